/**
 * Benchmark 7, growth: the consumer's RSS while it archives one large payload (50 MB and
 * 200 MB; bounded would mean the 200 MB payload does not take 4x the 50 MB one's memory), and
 * enqueue latency over many enqueues (the first and the last thousand of 50,000: a per-call
 * leak of listeners, timers or connections would show as a slower tail).
 *
 *   scripts/with-node.sh node --expose-gc bench/growth.ts [--quick]
 */
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { createProducerRedis } from '../src/redis-client.ts';
import { runBench, type BenchContext } from './lib/entry.ts';
import { collectGarbage, median, percentile } from './lib/measure.ts';
import { benchPayload, forgetPayloads } from './lib/payloads.ts';
import { uniqueQueue } from './lib/pipeline.ts';
import { enqueueOrThrow, producerThatDropsNothing } from './lib/producer.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { benchRedis, startConsumer, startRedis, startS3, waitDrained, type BenchS3 } from './lib/services.ts';

/** The consumer's two ways to read a payload (src/consumer/archive-processor.ts). */
const READ_MODES = [
  { name: 'redaction in the consumer (default; over 16 MiB: read in steps)', redaction: true },
  { name: 'nothing left to redact (producer redacted, or off): stored JSON streamed', redaction: false },
] as const;

interface RssRow {
  mode: string;
  label: string;
  jsonBytes: number;
  baselineMb: number;
  peakMb: number;
  growthMb: number;
  peakHeapMb: number;
  seconds: number;
}

/**
 * A consumer in its own process on a fresh queue, and a producer with its bounds raised (nothing
 * dropped), warmed with a 1 MB payload; `before` is the consumer's memory after the warm-up.
 */
async function warmConsumer(redisUrl: string, s3: BenchS3, redis: Redis, redaction: boolean) {
  const queueName = uniqueQueue('rss');
  const consumer = await startConsumer({
    redisUrl,
    queueName,
    bucket: s3.bucket,
    s3Endpoint: s3.endpoint,
    credentials: s3.credentials,
    redaction,
  });
  const producer = producerThatDropsNothing({ redisUrl, queueName, enqueueTimeoutMs: 60_000 });
  await producer.enqueue(benchPayload(1e6).value, { taskId: 'warm-up' });
  await waitDrained(redis, queueName, 60_000);
  return { queueName, consumer, producer, before: await consumer.reset() };
}

/**
 * One consumer process per payload size (a fresh one each time, so the larger payload does not
 * start from the memory the smaller one left), warmed with a 1 MB payload, then the large one.
 */
async function consumerRss(ctx: BenchContext, redisUrl: string): Promise<RssRow[]> {
  const s3 = await startS3();
  const redis = benchRedis(redisUrl);
  const rows: RssRow[] = [];
  for (const size of ctx.quick ? [5e6, 20e6] : [50e6, 200e6]) {
    forgetPayloads();
    collectGarbage();
    ctx.log(`consumer RSS: building a ${size / 1e6} MB payload`);
    const payload = benchPayload(size, 11);
    for (const mode of READ_MODES) {
      const { queueName, consumer, producer, before } = await warmConsumer(
        redisUrl,
        s3,
        redis,
        mode.redaction,
      );
      ctx.log(`consumer RSS: archiving ${payload.label}, ${mode.name}`);
      const started = performance.now();
      await enqueueOrThrow(producer, payload.value, { taskId: `big-${size}` });
      await waitDrained(redis, queueName, 600_000, 20);
      const seconds = (performance.now() - started) / 1000;
      const after = await consumer.stats();
      rows.push({
        mode: mode.name,
        label: payload.label,
        jsonBytes: payload.bytes.length,
        baselineMb: before.baselineRssMb,
        peakMb: after.peakRssMb,
        growthMb: after.peakRssMb - before.baselineRssMb,
        peakHeapMb: after.peakHeapUsedMb,
        seconds,
      });
      await producer.close();
      await consumer.stop();
      await redis.flushdb();
    }
  }
  forgetPayloads();
  await s3.stop();
  return rows;
}

interface SeriesResult {
  label: string;
  count: number;
  /** Peak RSS growth over the baseline after every `every` payloads. */
  growthMb: number[];
  every: number;
  seconds: number;
}

/**
 * Payloads of the size redaction threads take whole (over 120 KiB, up to 16 MiB), one after
 * another through one consumer: what a thread is given must not stay with it. Steps moved to a
 * thread were never collected there under the worker's V8 flag until the thread freed them
 * itself (2026-11-24: 60 payloads of 10 MB grew RSS by 623 MB, 104 MB per ten).
 */
async function consumerRssSeries(ctx: BenchContext, redisUrl: string): Promise<SeriesResult> {
  const s3 = await startS3();
  const redis = benchRedis(redisUrl);
  const [size, count, every] = ctx.quick ? [5e6, 40, 10] : [10e6, 60, 10];
  forgetPayloads();
  const payload = benchPayload(size, 11);
  const { queueName, consumer, producer, before } = await warmConsumer(redisUrl, s3, redis, true);
  ctx.log(`consumer RSS: ${count} payloads of ${payload.label}, one after another`);
  const growthMb: number[] = [];
  const started = performance.now();
  for (let sent = 1; sent <= count; sent += 1) {
    await enqueueOrThrow(producer, payload.value, { taskId: `series-${sent}` });
    await waitDrained(redis, queueName, 120_000, 20);
    if (sent % every === 0) growthMb.push((await consumer.stats()).peakRssMb - before.baselineRssMb);
  }
  const seconds = (performance.now() - started) / 1000;
  await producer.close();
  await consumer.stop();
  await redis.flushdb();
  await s3.stop();
  forgetPayloads();
  return { label: payload.label, count, growthMb, every, seconds };
}

interface LatencyResult {
  total: number;
  window: number;
  payloadBytes: number;
  first: { p50: number; p99: number; max: number };
  last: { p50: number; p99: number; max: number };
  listenersFirst: number;
  listenersLast: number;
  connectionsFirst: number;
  connectionsLast: number;
  heapFirstMb: number;
  heapLastMb: number;
  seconds: number;
}

async function enqueueLatency(ctx: BenchContext, redisUrl: string): Promise<LatencyResult> {
  const total = ctx.quick ? 3_000 : 50_000;
  const window = ctx.quick ? 300 : 1_000;
  const redis = benchRedis(redisUrl);
  const queueName = uniqueQueue('latency');
  // The producer's own kind of client, passed in so its listeners can be counted.
  const client = createProducerRedis(redisUrl, 1_000);
  client.on('error', () => undefined);
  if (client.status !== 'ready') await once(client, 'ready');
  const producer = producerThatDropsNothing({ redis: client, queueName });
  const payload = {
    task: { id: 'bench', integration: 'bench' },
    logs: Array.from({ length: 20 }, (_, i) => `line ${i} ${'x'.repeat(40)}`),
  };
  const payloadBytes = Buffer.byteLength(JSON.stringify(payload));
  const listeners = (): number =>
    client.eventNames().reduce((sum, name) => sum + client.listenerCount(name), 0);
  const connections = async (): Promise<number> => {
    const list = (await redis.call('CLIENT', 'LIST')) as string;
    return list.split('\n').filter((line) => line.length > 0).length;
  };
  const heapMb = (): number => {
    collectGarbage();
    return process.memoryUsage().heapUsed / 1024 / 1024;
  };
  await producer.enqueue(payload, { taskId: 'warm-up' });
  const latencies: number[] = [];
  let listenersFirst = 0;
  let connectionsFirst = 0;
  let heapFirstMb = 0;
  ctx.log(`enqueue latency: ${total} enqueues of ${payloadBytes} bytes`);
  const started = performance.now();
  for (let i = 0; i < total; i += 1) {
    if (i === window) {
      listenersFirst = listeners();
      connectionsFirst = await connections();
      heapFirstMb = heapMb();
    }
    const t0 = performance.now();
    await enqueueOrThrow(producer, payload, { taskId: `task-${i}`, integration: 'bench' });
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  const result: LatencyResult = {
    total,
    window,
    payloadBytes,
    first: summary(latencies.slice(0, window)),
    last: summary(latencies.slice(-window)),
    listenersFirst,
    listenersLast: listeners(),
    connectionsFirst,
    connectionsLast: await connections(),
    heapFirstMb,
    heapLastMb: heapMb(),
    seconds,
  };
  await producer.close();
  await client.quit();
  await redis.flushdb();
  return result;
}

const summary = (values: number[]) => ({
  p50: median(values),
  p99: percentile(values, 99),
  max: Math.max(...values),
});

await runBench('growth', async (ctx) => {
  const server = await startRedis();
  const rss = await consumerRss(ctx, server.url);
  const series = await consumerRssSeries(ctx, server.url);
  const seriesRatio = (series.growthMb.at(-1) ?? Number.NaN) / (series.growthMb[0] ?? Number.NaN);
  const latency = await enqueueLatency(ctx, server.url);
  const p50Ratio = latency.last.p50 / latency.first.p50;
  const growthByMode = READ_MODES.map((mode) => {
    const [small, large] = rss.filter((row) => row.mode === mode.name);
    const sizeRatio = small && large ? large.jsonBytes / small.jsonBytes : Number.NaN;
    return {
      mode,
      small,
      large,
      sizeRatio,
      growthRatio: small && large ? large.growthMb / small.growthMb : Number.NaN,
    };
  });
  const headline: Headline[] = [
    ...growthByMode.map(({ mode, small, large, sizeRatio, growthRatio }) => ({
      benchmark: '7 growth',
      metric: `consumer peak RSS growth, ${large?.label ?? ''} / ${small?.label ?? ''} payload, ${mode.name} (${fixed(large?.growthMb ?? Number.NaN, 0)} MB vs ${fixed(small?.growthMb ?? Number.NaN, 0)} MB; ${fixed(sizeRatio, 0)}x the bytes)`,
      goal: 'bounded (well under the size ratio)',
      measured: ratio(growthRatio),
      met: growthRatio < sizeRatio * 0.5,
    })),
    {
      benchmark: '7 growth',
      metric: `consumer peak RSS growth after ${series.count} / after ${series.every} payloads of ${series.label} one after another, redacted on the redaction threads (${fixed(series.growthMb.at(-1) ?? Number.NaN, 0)} MB vs ${fixed(series.growthMb[0] ?? Number.NaN, 0)} MB)`,
      goal: 'flat (<= 1.25x)',
      measured: ratio(seriesRatio),
      met: seriesRatio <= 1.25,
    },
    {
      benchmark: '7 growth',
      metric: `enqueue p50, last / first ${latency.window} of ${latency.total} (${fixed(latency.first.p50 * 1000, 0)} µs -> ${fixed(latency.last.p50 * 1000, 0)} µs; listeners ${latency.listenersFirst} -> ${latency.listenersLast}, connections ${latency.connectionsFirst} -> ${latency.connectionsLast})`,
      goal: 'flat (<= 1.2x, no listener or connection growth)',
      measured: ratio(p50Ratio),
      met:
        p50Ratio <= 1.2 &&
        latency.listenersLast <= latency.listenersFirst &&
        latency.connectionsLast <= latency.connectionsFirst,
    },
  ];
  const markdown = [
    '### Consumer RSS while archiving one large payload',
    '',
    'The consumer in its own process (defaults: 8 MiB parts, queue size 2), a fresh one per payload and mode, RSS sampled every 10 ms; baseline taken after a 1 MB warm-up payload.',
    '',
    table(
      [
        'mode',
        'payload',
        'JSON bytes',
        'baseline RSS MB',
        'peak RSS MB',
        'growth MB',
        'growth / JSON size',
        'peak heap used MB',
        'seconds',
      ],
      rss.map((r) => [
        r.mode,
        r.label,
        r.jsonBytes,
        fixed(r.baselineMb, 0),
        fixed(r.peakMb, 0),
        fixed(r.growthMb, 0),
        fixed(r.growthMb / (r.jsonBytes / 1024 / 1024), 1),
        fixed(r.peakHeapMb, 0),
        fixed(r.seconds, 1),
      ]),
    ),
    '',
    'The encode stages and the upload are bounded (a few 512 KiB blocks plus 8 MiB x 3 of parts). Both paths read the stored JSON from Redis in 1 MiB steps; the redacting one, for payloads over 16 MiB like these, redacts them by suspects (src/redaction/redact-stored-json.ts): values with nothing to redact pass through, values of up to 4 KiB around each match are parsed, so neither peak grows with the payload. What it holds whole is any single string (or header list) larger than that with a match in it. Payloads of up to 16 MiB go whole to a redaction thread, step by step as they are read (their JSON, capped by DEBUG_ARCHIVE_MAX_REDACTING_BYTES). The consumer starts as the worker does, with the V8 flag --external-memory-accounted-in-global-limit (benchmark 6): dead Buffers wait for the V8 global limit, so these peaks hold more garbage than with the V8 defaults (the run of 2026-11-24T04:29, before the flag: 107 and 129 MB redacting, 88 and 77 MB streamed), bounded by that limit rather than by the payload.',
    '',
    `### Consumer RSS over ${series.count} payloads of ${series.label}, one after another`,
    '',
    `One consumer (defaults) archiving them one at a time; each goes whole to a redaction thread. Peak RSS growth over the baseline (after a 1 MB warm-up payload), every ${series.every} payloads: ${series.growthMb.map((mb, index) => `${String((index + 1) * series.every)}: ${fixed(mb, 0)} MB`).join(', ')} (${fixed(series.seconds, 1)} s). The steps a thread is given are freed by the thread once the payload is redacted (src/redaction/arriving-bytes.ts \`release\`): it allocates so little JavaScript that V8 did not collect them under the worker's flag, and on 2026-11-24 the same 60 payloads grew RSS by 160, 240, 337, 416, 516 and 623 MB.`,
    '',
    `### Enqueue latency over ${latency.total} enqueues (${latency.payloadBytes}-byte payload, one at a time, no consumer)`,
    '',
    table(
      ['window', 'p50 µs', 'p99 µs', 'max µs'],
      [
        [
          `first ${latency.window}`,
          fixed(latency.first.p50 * 1000, 0),
          fixed(latency.first.p99 * 1000, 0),
          fixed(latency.first.max * 1000, 0),
        ],
        [
          `last ${latency.window}`,
          fixed(latency.last.p50 * 1000, 0),
          fixed(latency.last.p99 * 1000, 0),
          fixed(latency.last.max * 1000, 0),
        ],
      ],
    ),
    '',
    `Listeners on the producer's Redis client ${latency.listenersFirst} -> ${latency.listenersLast}; Redis connections ${latency.connectionsFirst} -> ${latency.connectionsLast}; heap used after GC ${fixed(latency.heapFirstMb, 1)} MB -> ${fixed(latency.heapLastMb, 1)} MB; ${fixed(latency.total / latency.seconds, 0)} enqueues/s.`,
  ].join('\n');
  const redacting = growthByMode[0];
  const proposals =
    redacting?.small && redacting.large && !(redacting.growthRatio < redacting.sizeRatio * 0.5)
      ? [
          `Consumer memory with redaction in the consumer (src/redaction/redact-stored-json.ts): peak RSS grows ${fixed(redacting.small.growthMb, 0)} MB for ${redacting.small.label} and ${fixed(redacting.large.growthMb, 0)} MB for ${redacting.large.label}: it should not grow with the payload; find what is held.`,
        ]
      : [];
  return { id: 'growth', title: '7. Growth', markdown, headline, charts: [], proposals };
});
