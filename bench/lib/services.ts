import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { AdmissionLedger } from '../../src/admission-ledger.ts';
import { defaults } from '../../src/config.ts';
import { startLocalRedis, type LocalRedis } from '../../src/local/redis-server.ts';
import type { ConsumerChildConfig, ConsumerChildStats, ConsumerMessage } from './consumer-process.ts';
import type { S3ChildConfig, S3ChildReady } from './s3-process.ts';

/**
 * The servers a benchmark needs, each its own: a private redis-server on a free port, s3rver
 * (optionally behind a latency proxy) and the consumer as child processes, like production
 * where S3 is elsewhere and the consumer is its own process. Everything started is stopped by
 * stopAll(), which bench/lib/entry.ts calls whatever happens.
 */

const stoppers = new Set<() => Promise<void>>();

export async function stopAll(): Promise<void> {
  const all = [...stoppers].reverse();
  stoppers.clear();
  for (const stop of all) await stop().catch(() => undefined);
}

function track(stop: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = (): Promise<void> => {
    stoppers.delete(once);
    done ??= stop();
    return done;
  };
  stoppers.add(once);
  return once;
}

export async function startRedis(): Promise<LocalRedis & { stop(): Promise<void> }> {
  const redis = await startLocalRedis();
  const stop = track(() => redis.destroy());
  return { ...redis, stop, destroy: stop };
}

/** A client of the benchmark's own (not the producer's): flush, poll, read. */
export function benchRedis(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  client.on('error', () => undefined);
  track(async () => {
    await client.quit().catch(() => {
      client.disconnect();
    });
  });
  return client;
}

async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

function forkChild(file: string, env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  return fork(here(file), [], {
    env: { ...process.env, ...env },
    execArgv: [...process.execArgv.filter((flag) => !flag.startsWith('--max-semi-space-size')), ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

async function firstMessage<T>(child: ChildProcess, what: string, timeoutMs = 30_000): Promise<T> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const [message] = (await Promise.race([
    once(child, 'message', { signal: timeout }),
    once(child, 'exit', { signal: timeout }).then(([code]) => {
      throw new Error(`${what} exited with ${String(code)} before it was ready`);
    }),
  ])) as [T];
  return message;
}

export interface BenchS3 {
  /** The endpoint clients use: through the latency proxy when there is one. */
  endpoint: string;
  /** s3rver itself, without the proxy. */
  directEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  stop(): Promise<void>;
}

/** s3rver in a child process with one bucket, behind a proxy adding `latencyMs` when given. */
export async function startS3(options: { latencyMs?: number; bucket?: string } = {}): Promise<BenchS3> {
  const config: S3ChildConfig = {
    bucket: options.bucket ?? 'bench-archive',
    latencyMs: options.latencyMs ?? 0,
  };
  const child = forkChild('./s3-process.ts', { BENCH_S3: JSON.stringify(config) });
  const stop = track(() => stopChild(child));
  const ready = await firstMessage<S3ChildReady>(child, 's3rver');
  return {
    endpoint: ready.endpoint,
    directEndpoint: ready.directEndpoint,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    bucket: config.bucket,
    stop,
  };
}

export interface BenchConsumer {
  readonly pid: number;
  stats(): Promise<ConsumerChildStats>;
  /** Forgets peaks and GC totals so far. */
  reset(): Promise<ConsumerChildStats>;
  /** Closes the consumer and returns its last stats. */
  stop(): Promise<ConsumerChildStats | undefined>;
}

/** The real consumer (startArchiveConsumer) in its own process, started with `execArgv`. */
export async function startConsumer(
  config: ConsumerChildConfig,
  execArgv: string[] = [],
): Promise<BenchConsumer> {
  const child = forkChild('./consumer-process.ts', { BENCH_CONSUMER: JSON.stringify(config) }, execArgv);
  const kill = track(() => stopChild(child, 40_000));
  await firstMessage<ConsumerMessage>(child, 'consumer');
  const ask = async (type: 'stats' | 'reset' | 'close'): Promise<ConsumerChildStats> => {
    const reply = firstMessage<ConsumerChildStats>(child, 'consumer', 60_000);
    child.send({ type });
    return reply;
  };
  return {
    pid: child.pid ?? 0,
    stats: () => ask('stats'),
    reset: () => ask('reset'),
    stop: async () => {
      if (child.exitCode !== null || !child.connected) {
        await kill();
        return undefined;
      }
      const last = await ask('close');
      await kill();
      return last;
    },
  };
}

/** Waits until the ledger holds no payload (everything archived), polling every `everyMs`. */
export async function waitDrained(
  redis: Redis,
  queueName: string,
  timeoutMs: number,
  everyMs = 10,
): Promise<void> {
  const ledger = new AdmissionLedger(redis, defaults.redisPrefix, queueName);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const usage = await ledger.usage();
    if (usage.payloads === 0) return;
    await delay(everyMs);
  }
  const usage = await ledger.usage();
  throw new Error(`queue ${queueName} not drained within ${timeoutMs} ms: ${usage.payloads} payloads left`);
}
