import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';

/** One look at the queue in Redis, taken in one MULTI so every figure is of the same instant. */
export interface QueueSample {
  /** Seconds after `go`. */
  at: number;
  ledgerPayloads: number;
  ledgerBytes: number;
  /** BullMQ jobs not yet taken by a consumer (wait, prioritized, delayed). */
  pendingJobs: number;
  activeJobs: number;
  failedJobs: number;
  /** Redis used_memory. */
  redisUsedBytes: number;
  /** VmRSS of the consumer process; undefined once it exited. */
  consumerRssBytes: number | undefined;
}

/** The consumer's own memory figures, from its /metrics (prom-client's default metrics). */
export interface ConsumerMemorySample {
  at: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

function gauge(text: string, name: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

/** VmRSS of a process from /proc (Linux), or undefined when it is gone. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** The connections Redis has open, counted by client name (`(none)` for unnamed ones). */
export async function connectionsByName(redis: Redis): Promise<Record<string, number>> {
  const list = await redis.client('LIST');
  const counts: Record<string, number> = {};
  for (const line of String(list).split('\n')) {
    if (line.trim() === '') continue;
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
    const key = name === '' ? '(none)' : name;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/**
 * Samples the queue's ledger, BullMQ's job lists, Redis memory and the consumer's RSS every
 * `intervalMs` (one sample at a time, never overlapping) until stopped.
 */
export class SoakSampler {
  readonly samples: QueueSample[] = [];
  readonly memory: ConsumerMemorySample[] = [];
  readonly #redis: Redis;
  readonly #base: string;
  readonly #consumerPid: number;
  readonly #startedAt: number;
  readonly #metricsUrl: string;
  #running = true;
  readonly #stopped = new AbortController();
  #failure: Error | undefined;
  readonly #loops: Promise<void>;

  constructor(options: {
    redis: Redis;
    /** BullMQ's `{prefix}:{queueName}`, which the ledger's keys share. */
    base: string;
    consumerPid: number;
    /** The consumer's /metrics, read every `metricsIntervalMs`. */
    metricsUrl: string;
    startedAt: number;
    intervalMs?: number;
    metricsIntervalMs?: number;
  }) {
    this.#redis = options.redis;
    this.#base = options.base;
    this.#consumerPid = options.consumerPid;
    this.#metricsUrl = options.metricsUrl;
    this.#startedAt = options.startedAt;
    const fail = (error: unknown): void => {
      this.#running = false;
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
    };
    this.#loops = Promise.all([
      this.#run(options.intervalMs ?? 250).catch(fail),
      this.#runMetrics(options.metricsIntervalMs ?? 2_000).catch(fail),
    ]).then(() => undefined);
  }

  async #runMetrics(intervalMs: number): Promise<void> {
    while (this.#running) {
      const text = await (await fetch(this.#metricsUrl)).text();
      this.memory.push({
        at: (performance.now() - this.#startedAt) / 1_000,
        rssBytes: gauge(text, 'process_resident_memory_bytes'),
        heapUsedBytes: gauge(text, 'nodejs_heap_size_used_bytes'),
        heapTotalBytes: gauge(text, 'nodejs_heap_size_total_bytes'),
        externalBytes: gauge(text, 'nodejs_external_memory_bytes'),
      });
      await this.#pause(intervalMs);
    }
  }

  /** Waits between samples; stop() cuts it short. */
  async #pause(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.#stopped.signal }).catch(() => undefined);
  }

  async sample(): Promise<QueueSample> {
    const base = this.#base;
    const [replies, rss] = await Promise.all([
      this.#redis
        .multi()
        .hlen(`${base}:ledger:admitted`)
        .get(`${base}:ledger:bytes`)
        .llen(`${base}:wait`)
        .zcard(`${base}:prioritized`)
        .zcard(`${base}:delayed`)
        .llen(`${base}:active`)
        .zcard(`${base}:failed`)
        .info('memory')
        .exec(),
      residentBytes(this.#consumerPid),
    ]);
    if (replies === null) throw new Error('the sampling MULTI was aborted');
    const values = replies.map(([error, value]) => {
      if (error !== null) throw error;
      return value;
    });
    const number = (index: number): number => Number(values[index] ?? 0);
    const usedMemory = /^used_memory:(\d+)/m.exec(String(values[7]))?.[1];
    const sample: QueueSample = {
      at: (performance.now() - this.#startedAt) / 1_000,
      ledgerPayloads: number(0),
      ledgerBytes: number(1),
      pendingJobs: number(2) + number(3) + number(4),
      activeJobs: number(5),
      failedJobs: number(6),
      redisUsedBytes: Number(usedMemory ?? 0),
      consumerRssBytes: rss,
    };
    this.samples.push(sample);
    return sample;
  }

  async #run(intervalMs: number): Promise<void> {
    while (this.#running) {
      await this.sample();
      await this.#pause(intervalMs);
    }
  }

  /** Stops after the sample under way; rethrows what made sampling fail. */
  async stop(): Promise<QueueSample[]> {
    this.#running = false;
    this.#stopped.abort();
    await this.#loops;
    if (this.#failure !== undefined) throw this.#failure;
    return this.samples;
  }
}
