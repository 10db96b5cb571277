/**
 * Benchmark 6, GC: the share of the consumer's time spent in scavenges (young-generation GC,
 * PerformanceObserver 'gc' entries) while it archives a backlog at full speed, with V8's
 * default semi-space and with --max-semi-space-size 16, 32 and 64 (MB), each consumer its own
 * child process started with the flag.
 *
 *   scripts/with-node.sh node --expose-gc bench/gc.ts [--quick]
 */
import { createDebugPayloadProducer } from '../src/producer/producer.ts';
import { runBench } from './lib/entry.ts';
import { median } from './lib/measure.ts';
import { benchPayload } from './lib/payloads.ts';
import { silentLogger, uniqueQueue } from './lib/pipeline.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { benchRedis, startConsumer, startRedis, startS3, waitDrained } from './lib/services.ts';

interface Run {
  seconds: number;
  mbps: number;
  scavengeShare: number;
  markSweepShare: number;
  scavenges: number;
  cpuMs: number;
  peakRssMb: number;
}

await runBench('gc', async (ctx) => {
  const redisServer = await startRedis();
  const s3 = await startS3();
  const redis = benchRedis(redisServer.url);
  const flags: { name: string; execArgv: string[] }[] = [
    { name: 'default', execArgv: [] },
    { name: '--max-semi-space-size=16', execArgv: ['--max-semi-space-size=16'] },
    { name: '--max-semi-space-size=32', execArgv: ['--max-semi-space-size=32'] },
    { name: '--max-semi-space-size=64', execArgv: ['--max-semi-space-size=64'] },
  ];
  const variants = ctx.quick ? flags.filter((f) => f.name === 'default' || f.name.endsWith('=32')) : flags;
  const plan = ctx.quick ? { size: 1e6, count: 12 } : { size: 1e6, count: 80 };
  const payload = benchPayload(plan.size);
  const runs = new Map<string, Run[]>(variants.map((v) => [v.name, []]));
  const rounds = ctx.quick ? 1 : 6;
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < variants.length; i += 1) {
      const variant = variants[(round + i) % variants.length];
      if (!variant) continue;
      const queueName = uniqueQueue('gc');
      // The backlog first, then the consumer: it runs flat out from its first job to the last.
      const producer = createDebugPayloadProducer({
        redisUrl: redisServer.url,
        queueName,
        maxQueued: 100_000,
        maxQueuedBytes: 8 * 1024 ** 3,
        maxCpuShare: 1,
        maxInFlightBytes: 1024 ** 3,
        logger: silentLogger,
      });
      for (let n = 0; n < plan.count; n += 1) {
        const result = await producer.enqueue(payload.value, { taskId: `gc-${n}` });
        if (result.status !== 'queued') throw new Error(`enqueue dropped: ${JSON.stringify(result)}`);
      }
      await producer.close();
      ctx.log(`round ${round + 1}: ${variant.name}, ${plan.count} x ${payload.label}`);
      const consumer = await startConsumer(
        {
          redisUrl: redisServer.url,
          queueName,
          bucket: s3.bucket,
          s3Endpoint: s3.endpoint,
          credentials: s3.credentials,
          // PerformanceObserver sees the event loop's collections only: the redaction work,
          // where most of the allocation is, runs there so that it is measured.
          redactionThreads: 0,
        },
        variant.execArgv,
      );
      await waitDrained(redis, queueName, 600_000, 5);
      const stats = await consumer.stats();
      await consumer.stop();
      await redis.flushdb();
      runs.get(variant.name)?.push({
        seconds: stats.wallMs / 1000,
        mbps: (payload.bytes.length * plan.count) / 1e6 / (stats.wallMs / 1000),
        scavengeShare: stats.gcMs.scavenge / stats.wallMs,
        markSweepShare: stats.gcMs.markSweep / stats.wallMs,
        scavenges: stats.gcCount.scavenge,
        cpuMs: stats.cpuMs,
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
      scavengeShare: pick((r) => r.scavengeShare),
      markSweepShare: pick((r) => r.markSweepShare),
      scavenges: pick((r) => r.scavenges),
      cpuPerMb: pick((r) => r.cpuMs / ((payload.bytes.length * plan.count) / 1e6)),
      peakRssMb: pick((r) => r.peakRssMb),
    };
  });
  const base = summary[0];
  const best = summary
    .slice(1)
    .reduce<(typeof summary)[number] | undefined>(
      (a, b) => (a === undefined || b.mbps > a.mbps ? b : a),
      undefined,
    );
  const wins =
    base !== undefined &&
    best !== undefined &&
    best.mbps / base.mbps >= 1.05 &&
    best.scavengeShare < base.scavengeShare;
  const headline: Headline[] = [];
  if (base && best) {
    headline.push({
      benchmark: '6 GC',
      metric: `consumer time in scavenges at full throughput: default ${fixed(base.scavengeShare * 100, 1)}% vs ${best.name} ${fixed(best.scavengeShare * 100, 1)}%; throughput ${ratio(best.mbps / base.mbps)}`,
      goal: 'ship the flag if it wins',
      measured: wins ? `${best.name} wins` : 'no clear win',
      met: undefined,
    });
  }
  const markdown = [
    `A backlog of ${plan.count} x ${payload.label} in Redis, then the consumer (defaults but for redaction on the event loop, \`DEBUG_ARCHIVE_REDACTION_THREADS=0\`; its own process with the flag, which its redaction threads would inherit) archives it flat out to s3rver; time in GC from PerformanceObserver 'gc' entries in the consumer, which sees the event loop's collections only (hence redaction there), over the consumer's wall time from start to the ledger being empty. Medians of ${rounds} interleaved round(s).`,
    '',
    table(
      [
        'consumer flags',
        'archived MB/s',
        'scavenge share',
        'scavenges',
        'mark-sweep share',
        'CPU ms per MB',
        'peak RSS MB',
        'MB/s vs default',
      ],
      summary.map((s) => [
        s.name,
        fixed(s.mbps, 1),
        `${fixed(s.scavengeShare * 100, 1)}%`,
        fixed(s.scavenges, 0),
        `${fixed(s.markSweepShare * 100, 1)}%`,
        fixed(s.cpuPerMb, 1),
        fixed(s.peakRssMb, 0),
        base ? ratio(s.mbps / base.mbps) : 'n/a',
      ]),
    ),
  ].join('\n');
  const proposals: string[] = [];
  if (base && best) {
    proposals.push(
      wins
        ? `Worker start-up (worker/main.ts, Dockerfile CMD, or NODE_OPTIONS in the worker's environment): run the consumer with ${best.name}: scavenges ${fixed(base.scavengeShare * 100, 1)}% -> ${fixed(best.scavengeShare * 100, 1)}% of its time and ${ratio(best.mbps / base.mbps)} the archived MB/s, for a peak RSS of ${fixed(best.peakRssMb, 0)} MB vs ${fixed(base.peakRssMb, 0)} MB.`
        : `Worker start-up: no --max-semi-space-size change: the fastest (${best.name}) moved scavenges ${fixed(base.scavengeShare * 100, 1)}% -> ${fixed(best.scavengeShare * 100, 1)}% of the consumer's time for ${ratio(best.mbps / base.mbps)} the throughput: not a clear win (needs >= 1.05x and fewer scavenges).`,
    );
  }
  return { id: 'gc', title: '6. GC', markdown, headline, charts: [], proposals };
});
