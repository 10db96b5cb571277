/**
 * Benchmark 6, GC: what garbage collection costs the consumer at full throughput, and the V8
 * flags that change it. A backlog of 10 MB and 1 MB payloads in Redis, then the consumer (its
 * defaults: redaction threads on; its own process, started with the flags) archives it flat out
 * to s3rver. Measured: MB/s, CPU per MB by kind of thread (/proc: V8Worker is V8's helper
 * threads, which do its concurrent marking and sweeping), the event loop's GC pauses
 * (PerformanceObserver 'gc' entries) and peak RSS.
 *
 * Variants: V8's defaults; the worker's start-up (tuneWorkerGc:
 * --external-memory-accounted-in-global-limit); each with --max-semi-space-size=32.
 *
 *   scripts/with-node.sh node --expose-gc bench/gc.ts [--quick]
 */
import { EXTERNAL_MEMORY_FLAG } from '../src/consumer/gc-tuning.ts';
import { runBench } from './lib/entry.ts';
import { median } from './lib/measure.ts';
import { benchPayload } from './lib/payloads.ts';
import { uniqueQueue } from './lib/pipeline.ts';
import { enqueueOrThrow, producerThatDropsNothing } from './lib/producer.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { benchRedis, startConsumer, startRedis, startS3, waitDrained } from './lib/services.ts';

interface Run {
  mbps: number;
  cpuPerMb: number;
  /** CPU per MB by thread kind (MainThread, WorkerThread, libuv-worker, V8Worker). */
  threads: Record<string, number>;
  scavengeShare: number;
  markSweepShare: number;
  markSweeps: number;
  peakRssMb: number;
}

/** Thread kinds reported, in this order; any other goes under "other". */
const THREAD_KINDS = ['MainThread', 'WorkerThread', 'libuv-worker', 'V8Worker'];

await runBench('gc', async (ctx) => {
  const redisServer = await startRedis();
  const s3 = await startS3();
  const redis = benchRedis(redisServer.url);
  const v8Defaults = `--no-${EXTERNAL_MEMORY_FLAG}`;
  const flags: { name: string; execArgv: string[] }[] = [
    { name: "V8's defaults", execArgv: [v8Defaults] },
    { name: 'worker start-up (external memory in the global limit)', execArgv: [] },
    { name: "V8's defaults, --max-semi-space-size=32", execArgv: [v8Defaults, '--max-semi-space-size=32'] },
    { name: 'worker start-up, --max-semi-space-size=32', execArgv: ['--max-semi-space-size=32'] },
  ];
  const variants = ctx.quick ? flags.slice(0, 2) : flags;
  // Every tenth payload 10 MB, the rest 1 MB: half the bytes each.
  const plan = ctx.quick ? { large: 2, small: 20 } : { large: 6, small: 60 };
  const large = benchPayload(10e6);
  const small = benchPayload(1e6);
  const backlog = Array.from({ length: plan.large + plan.small }, (_, i) =>
    i % Math.ceil((plan.large + plan.small) / plan.large) === 0 ? large : small,
  );
  const jsonMb = backlog.reduce((sum, payload) => sum + payload.bytes.length, 0) / 1e6;
  const runs = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
  const rounds = ctx.quick ? 1 : 12;
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < variants.length; i += 1) {
      const variant = variants[(round + i) % variants.length];
      if (!variant) continue;
      const queueName = uniqueQueue('gc');
      // The backlog first, then the consumer: it runs flat out from its first job to the last.
      const producer = producerThatDropsNothing({ redisUrl: redisServer.url, queueName });
      for (const [n, payload] of backlog.entries()) {
        await enqueueOrThrow(producer, payload.value, { taskId: `gc-${n}` });
      }
      await producer.close();
      ctx.log(`round ${round + 1}: ${variant.name}, ${fixed(jsonMb, 0)} MB`);
      const consumer = await startConsumer(
        {
          redisUrl: redisServer.url,
          queueName,
          bucket: s3.bucket,
          s3Endpoint: s3.endpoint,
          credentials: s3.credentials,
        },
        variant.execArgv,
      );
      await waitDrained(redis, queueName, 600_000, 5);
      const stats = await consumer.stats();
      await consumer.stop();
      await redis.flushdb();
      const threads: Record<string, number> = {};
      for (const [name, ms] of Object.entries(stats.threadCpuMs)) {
        const kind = THREAD_KINDS.includes(name) ? name : 'other';
        threads[kind] = (threads[kind] ?? 0) + ms / jsonMb;
      }
      runs.get(variant.name)?.push({
        mbps: jsonMb / (stats.wallMs / 1000),
        cpuPerMb: stats.cpuMs / jsonMb,
        threads,
        scavengeShare: stats.gcMs.scavenge / stats.wallMs,
        markSweepShare: stats.gcMs.markSweep / stats.wallMs,
        markSweeps: stats.gcCount.markSweep,
        peakRssMb: stats.peakRssMb,
      });
    }
  }
  const summary = variants.map((variant) => {
    const list = runs.get(variant.name) ?? [];
    const pick = (f: (run: Run) => number): number => median(list.map(f));
    return {
      name: variant.name,
      mbps: pick((r) => r.mbps),
      cpuPerMb: pick((r) => r.cpuPerMb),
      threads: Object.fromEntries(
        [...THREAD_KINDS, 'other'].map((kind) => [kind, pick((r) => r.threads[kind] ?? 0)]),
      ),
      scavengeShare: pick((r) => r.scavengeShare),
      markSweepShare: pick((r) => r.markSweepShare),
      markSweeps: pick((r) => r.markSweeps),
      peakRssMb: pick((r) => r.peakRssMb),
    };
  });
  const [defaults, shipped] = summary;
  const headline: Headline[] = [];
  const proposals: string[] = [];
  if (defaults && shipped) {
    const cpu = shipped.cpuPerMb / defaults.cpuPerMb;
    const speed = shipped.mbps / defaults.mbps;
    const wins = cpu <= 0.95 && speed >= 1;
    headline.push({
      benchmark: '6 GC',
      metric: `consumer CPU per MB archived, worker start-up (--${EXTERNAL_MEMORY_FLAG}) / V8's defaults: ${fixed(shipped.cpuPerMb, 1)} vs ${fixed(defaults.cpuPerMb, 1)} ms (${ratio(cpu)}), V8's helper threads ${fixed(shipped.threads.V8Worker ?? 0, 1)} vs ${fixed(defaults.threads.V8Worker ?? 0, 1)} ms; throughput ${ratio(speed)}; peak RSS ${fixed(shipped.peakRssMb, 0)} vs ${fixed(defaults.peakRssMb, 0)} MB`,
      goal: 'ship the flag if it wins',
      measured: wins ? 'wins: shipped' : 'no clear win',
      met: wins,
    });
    if (!wins) {
      proposals.push(
        `Worker start-up (src/consumer/gc-tuning.ts): --${EXTERNAL_MEMORY_FLAG} did not win in this run (CPU per MB ${ratio(cpu)}, throughput ${ratio(speed)}; needs <= 0.95x and >= 1.00x): take it out of tuneWorkerGc.`,
      );
    }
  }
  for (const semi of summary.slice(2)) {
    const base = semi.name.startsWith('worker') ? shipped : defaults;
    if (base && semi.mbps / base.mbps >= 1.05 && semi.cpuPerMb < base.cpuPerMb) {
      proposals.push(
        `Worker start-up: ${semi.name} archived ${ratio(semi.mbps / base.mbps)} the MB/s of ${base.name} for ${fixed(semi.cpuPerMb, 1)} against ${fixed(base.cpuPerMb, 1)} ms of CPU per MB and a peak RSS of ${fixed(semi.peakRssMb, 0)} MB against ${fixed(base.peakRssMb, 0)}.`,
      );
    }
  }
  const markdown = [
    `A backlog of ${plan.large} x ${large.label} and ${plan.small} x ${small.label} (${fixed(jsonMb, 0)} MB of JSON, one 10 MB payload in ten) in Redis, then the consumer with its defaults (redaction threads on) archives it flat out to s3rver; each consumer its own process, started with the variant's flags. "V8's defaults" is started with \`--no-${EXTERNAL_MEMORY_FLAG}\`, which tuneWorkerGc leaves alone; "worker start-up" is how \`debug-archiver worker\` runs: tuneWorkerGc sets \`--${EXTERNAL_MEMORY_FLAG}\` (src/consumer/gc-tuning.ts). CPU per MB of JSON by kind of thread, from /proc: the event loop (MainThread), the redaction threads (WorkerThread), libuv's pool (gzip), and V8's helper threads (V8Worker: concurrent marking and sweeping for every isolate). GC pauses and mark-sweeps are the event loop's, from PerformanceObserver 'gc' entries. Medians of ${rounds} interleaved round(s): with 6, four runs on this machine gave the worker's start-up 0.87x, 0.98x, 0.92x and 0.91x the CPU per MB of V8's defaults, and 1.15x, 0.99x, 1.08x and 1.06x the throughput, while V8's helper threads always took about half as much. The run of 2026-11-24T04:48 measured --max-semi-space-size 16 and 64 beside 32 on V8's defaults (redaction on the event loop): 0.98x and 1.02x the default's MB/s, no win.`,
    '',
    table(
      [
        'consumer flags',
        'archived MB/s',
        'CPU ms per MB',
        'event loop',
        'redaction threads',
        'libuv pool',
        'V8 helpers',
        'mark-sweeps',
        'mark-sweep share',
        'scavenge share',
        'peak RSS MB',
        'MB/s vs first',
        'CPU vs first',
      ],
      summary.map((s) => [
        s.name,
        fixed(s.mbps, 1),
        fixed(s.cpuPerMb, 1),
        fixed(s.threads.MainThread ?? 0, 1),
        fixed(s.threads.WorkerThread ?? 0, 1),
        fixed(s.threads['libuv-worker'] ?? 0, 1),
        fixed(s.threads.V8Worker ?? 0, 1),
        fixed(s.markSweeps, 0),
        `${fixed(s.markSweepShare * 100, 1)}%`,
        `${fixed(s.scavengeShare * 100, 1)}%`,
        fixed(s.peakRssMb, 0),
        defaults ? ratio(s.mbps / defaults.mbps) : 'n/a',
        defaults ? ratio(s.cpuPerMb / defaults.cpuPerMb) : 'n/a',
      ]),
    ),
  ].join('\n');
  return { id: 'gc', title: '6. GC', markdown, headline, charts: [], proposals };
});
