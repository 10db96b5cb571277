/**
 * Child process: the real consumer (startArchiveConsumer) configured from BENCH_CONSUMER and
 * started as the worker starts it (tuneWorkerGc), plus what benchmarks read from outside: RSS
 * and heap sampled every 10 ms (peaks), time in GC by kind (PerformanceObserver 'gc' entries),
 * CPU time, and on Linux CPU time by kind of thread. Answers `{ type: 'stats' | 'reset' |
 * 'close' }` over IPC with ConsumerChildStats; stops on SIGTERM or when the parent goes away.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { pino } from 'pino';
import { startArchiveConsumer } from '../../src/consumer/archive-consumer.ts';
import { tuneWorkerGc } from '../../src/consumer/gc-tuning.ts';

export interface ConsumerChildConfig {
  redisUrl: string;
  queueName: string;
  bucket: string;
  s3Endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  concurrency?: number;
  gzipLevel?: number;
  /** Redaction is on by default in the consumer; false stores payloads as they came. */
  redaction?: boolean;
  /** Redaction threads; 0 redacts on the event loop, where this process observes its GC. */
  redactionThreads?: number;
}

export interface ConsumerMessage {
  type: 'ready' | 'stats' | 'reset' | 'close';
}

export interface ConsumerChildStats {
  type: 'stats';
  rssMb: number;
  peakRssMb: number;
  /** RSS when the consumer had started and done nothing yet (or at the last reset). */
  baselineRssMb: number;
  peakHeapUsedMb: number;
  /** Since start or the last reset. */
  wallMs: number;
  cpuMs: number;
  gcMs: { scavenge: number; markSweep: number; other: number };
  gcCount: { scavenge: number; markSweep: number; other: number };
  /**
   * CPU time by the name the kernel knows each thread by (Linux; empty elsewhere): MainThread
   * (the event loop), WorkerThread (redaction threads), libuv-worker (gzip, crypto), V8Worker
   * (V8's helpers: concurrent marking and sweeping, compilation).
   */
  threadCpuMs: Record<string, number>;
}

/** CPU time of this process's threads so far, summed by thread name; empty where /proc is not. */
function threadCpu(): Record<string, number> {
  const byName: Record<string, number> = {};
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return byName;
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Fields after the name: utime and stime are the 12th and 13th, in clock ticks (10 ms).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return byName;
}

const config = JSON.parse(process.env.BENCH_CONSUMER ?? '{}') as ConsumerChildConfig;
tuneWorkerGc();
const mb = (bytes: number): number => bytes / 1024 / 1024;

let since = performance.now();
let cpuSince = process.cpuUsage();
let threadCpuSince = threadCpu();
let baselineRss = process.memoryUsage.rss();
let peakRss = baselineRss;
let peakHeap = process.memoryUsage().heapUsed;
const gcMs = { scavenge: 0, markSweep: 0, other: 0 };
const gcCount = { scavenge: 0, markSweep: 0, other: 0 };

// One reading of /proc a sample: each costs the consumer's event loop (about 1% of its CPU with two).
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  peakRss = Math.max(peakRss, usage.rss);
  peakHeap = Math.max(peakHeap, usage.heapUsed);
}, 10);
sampler.unref();

const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail ?? {}).kind;
    const bucket =
      kind === constants.NODE_PERFORMANCE_GC_MINOR
        ? 'scavenge'
        : kind === constants.NODE_PERFORMANCE_GC_MAJOR
          ? 'markSweep'
          : 'other';
    gcMs[bucket] += entry.duration;
    gcCount[bucket] += 1;
  }
});
observer.observe({ entryTypes: ['gc'] });

const consumer = await startArchiveConsumer({
  redisUrl: config.redisUrl,
  queueName: config.queueName,
  bucket: config.bucket,
  s3Endpoint: config.s3Endpoint,
  credentials: config.credentials,
  ...(config.concurrency === undefined ? {} : { concurrency: config.concurrency }),
  ...(config.gzipLevel === undefined ? {} : { gzipLevel: config.gzipLevel }),
  ...(config.redactionThreads === undefined ? {} : { redactionThreads: config.redactionThreads }),
  ...(config.redaction === false ? { redaction: false as const } : {}),
  logger: pino({ level: 'error' }, pino.destination(2)),
});

const stats = (): ConsumerChildStats => {
  const cpu = process.cpuUsage(cpuSince);
  return {
    type: 'stats',
    rssMb: mb(process.memoryUsage.rss()),
    peakRssMb: mb(peakRss),
    baselineRssMb: mb(baselineRss),
    peakHeapUsedMb: mb(peakHeap),
    wallMs: performance.now() - since,
    cpuMs: (cpu.user + cpu.system) / 1000,
    gcMs: { ...gcMs },
    gcCount: { ...gcCount },
    threadCpuMs: Object.fromEntries(
      Object.entries(threadCpu()).map(([name, ms]) => [name, Math.max(0, ms - (threadCpuSince[name] ?? 0))]),
    ),
  };
};

const reset = (): void => {
  since = performance.now();
  cpuSince = process.cpuUsage();
  threadCpuSince = threadCpu();
  baselineRss = process.memoryUsage.rss();
  peakRss = baselineRss;
  peakHeap = process.memoryUsage().heapUsed;
  for (const key of ['scavenge', 'markSweep', 'other'] as const) {
    gcMs[key] = 0;
    gcCount[key] = 0;
  }
};
reset();

let closing = false;
const close = async (): Promise<void> => {
  if (closing) return;
  closing = true;
  await consumer.close().catch(() => undefined);
  observer.disconnect();
  process.exit(0);
};

process.on('message', (message: ConsumerMessage) => {
  if (message.type === 'stats') process.send?.(stats());
  else if (message.type === 'reset') {
    reset();
    process.send?.(stats());
  } else if (message.type === 'close') {
    const last = stats();
    process.send?.(last, () => void close());
  }
});
process.on('SIGTERM', () => void close());
process.on('SIGINT', () => void close());
process.on('disconnect', () => void close());
process.send?.({ type: 'ready' } satisfies ConsumerMessage);
