/**
 * Benchmark 4, the task worker: C concurrent network-bound tasks (each awaits five simulated
 * bank calls of 100-400 ms, parses their answers, and ends with a 1 MB payload) for a fixed
 * time, in these modes: no archiving (baseline); the floor (JSON.stringify and one Redis SET of
 * the payload, the least a hand-off out of the process costs the task); fire-and-forget in-process upload with the SDK's
 * default client (the floating-promise design this project replaces); awaited in-process upload;
 * and enqueueDebugPayload's producer (the consumer archiving in its own process). S3 is s3rver
 * behind a 75 ms latency proxy. Task latency p50/p99, tasks/s, heap over time, event-loop lag.
 *
 *   scripts/with-node.sh node --expose-gc bench/task-worker.ts [--quick]
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { createPrng } from '../src/demo/prng.ts';
import { createDebugPayloadProducer, type DebugPayloadProducer } from '../src/producer/producer.ts';
import { runBench, type BenchContext } from './lib/entry.ts';
import { collectGarbage, median, percentile } from './lib/measure.ts';
import { benchPayload } from './lib/payloads.ts';
import { silentLogger, uniqueQueue } from './lib/pipeline.ts';
import { fixed, percent, ratio, table, type Headline } from './lib/report.ts';
import { defaults } from '../src/config.ts';
import {
  benchRedis,
  startConsumer,
  startRedis,
  startS3,
  waitDrained,
  type BenchConsumer,
  type BenchS3,
} from './lib/services.ts';
import { lineChart } from './lib/svg.ts';

type Mode =
  | 'none'
  | 'stringify + SET (floor)'
  | 'fire-and-forget'
  | 'awaited upload'
  | 'enqueue'
  | 'enqueue, consumer elsewhere'
  | 'enqueue, no CPU limit, consumer elsewhere';
const MODES: Mode[] = [
  'none',
  'stringify + SET (floor)',
  'fire-and-forget',
  'awaited upload',
  'enqueue',
  'enqueue, consumer elsewhere',
  'enqueue, no CPU limit, consumer elsewhere',
];
const ELSEWHERE: Mode[] = ['enqueue, consumer elsewhere', 'enqueue, no CPU limit, consumer elsewhere'];

interface ModeResult {
  mode: Mode;
  concurrency: number;
  tasks: number;
  tasksPerSecond: number;
  p50: number;
  p99: number;
  lagP99: number;
  lagMax: number;
  heapStartMb: number;
  heapEndMb: number;
  heapMaxMb: number;
  /** Uploads still in flight when the run ended (fire-and-forget). */
  backlog: number;
  dropped: number;
  dropReasons: string;
  /** Share of the tasks whose payload was archived (1 for the modes that archive every one). */
  kept: number;
  heapSeries: [number, number][];
}

interface World {
  s3: BenchS3;
  /** A plain connection for the floor mode's SETs. */
  redis: Redis;
  sdkDefault: S3Client;
  /** The producer with its defaults, CPU share included. */
  producer: DebugPayloadProducer;
  /** The same with no CPU limit (maxCpuShare 1): every payload it has room for is archived. */
  unlimited: DebugPayloadProducer;
  /** Starts the consumer (same machine) for the `enqueue` mode, stops it for the others. */
  consumerRunning(running: boolean): Promise<void>;
  /** Waits until everything enqueued so far is archived (with the consumer running). */
  drain(): Promise<void>;
}

/** Simulated bank calls per task and their duration; the quick mode shortens them. */
const BANK_CALLS = { count: 5, minMs: 100, maxMs: 400 };
/**
 * Tasks per mode in the full run. The p99 of a few hundred tasks is their third-slowest: with
 * 30 tasks at once, 10 s gave about 250, and the same mode and settings measured 1.00x to
 * 1.08x the baseline from run to run, as much as the differences being measured.
 */
const MIN_TASKS = 1_000;

/** How long a mode runs: long enough for about MIN_TASKS tasks, and at least 10 s. */
function modeSeconds(concurrency: number): number {
  const meanTaskSeconds = (BANK_CALLS.count * (BANK_CALLS.minMs + BANK_CALLS.maxMs)) / 2 / 1000;
  return Math.max(10, Math.ceil((MIN_TASKS * meanTaskSeconds) / concurrency));
}

/** A bank's answer, parsed by the task like a real one would be. */
const bankAnswer = JSON.stringify(benchPayload(20e3, 3).value.exchanges);

async function runMode(
  ctx: BenchContext,
  world: World,
  mode: Mode,
  concurrency: number,
  seconds: number,
  last: boolean,
): Promise<ModeResult> {
  const payloads = [1, 2, 3, 4].map((seed) => benchPayload(1e6, seed));
  const rng = createPrng(concurrency * 31 + MODES.indexOf(mode));
  const inFlight = new Set<Promise<unknown>>();
  const latencies: number[] = [];
  let dropped = 0;
  let taskCounter = 0;
  const task = async (): Promise<void> => {
    const id = (taskCounter += 1);
    for (let call = 0; call < BANK_CALLS.count; call += 1) {
      await delay(rng.int(BANK_CALLS.minMs, BANK_CALLS.maxMs));
      JSON.parse(bankAnswer);
    }
    const payload = payloads[id % payloads.length]?.value;
    const key = `tasks/${mode}/${concurrency}/${id}.json`;
    if (mode === 'stringify + SET (floor)') {
      // One key per lane, overwritten: Redis holds `concurrency` payloads, not the whole run.
      await world.redis.set(`floor:${id % concurrency}`, JSON.stringify(payload));
    } else if (mode === 'fire-and-forget') {
      const upload = world.sdkDefault
        .send(new PutObjectCommand({ Bucket: world.s3.bucket, Key: key, Body: JSON.stringify(payload) }))
        .catch(() => {
          dropped += 1;
        })
        .finally(() => inFlight.delete(upload));
      inFlight.add(upload);
    } else if (mode === 'awaited upload') {
      await world.sdkDefault.send(
        new PutObjectCommand({ Bucket: world.s3.bucket, Key: key, Body: JSON.stringify(payload) }),
      );
    } else if (producer !== undefined) {
      const result = await producer.enqueue(payload, { taskId: `task-${id}`, integration: 'bench' });
      if (result.status === 'dropped') dropped += 1;
    }
  };

  await world.consumerRunning(mode === 'enqueue');
  const producer =
    mode === 'enqueue, no CPU limit, consumer elsewhere'
      ? world.unlimited
      : mode === 'enqueue' || mode === 'enqueue, consumer elsewhere'
        ? world.producer
        : undefined;
  const droppedBefore = { ...producer?.stats().dropped };
  collectGarbage();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const heapSeries: [number, number][] = [];
  const started = performance.now();
  const heap = (): number => process.memoryUsage().heapUsed / 1024 / 1024;
  const sampler = setInterval(() => {
    heapSeries.push([(performance.now() - started) / 1000, heap()]);
  }, 250);
  const heapStartMb = heap();
  const deadline = started + seconds * 1000;
  let finished = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await task();
        latencies.push(performance.now() - t0);
        finished += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  clearInterval(sampler);
  lag.disable();
  // After a full GC: what the run left reachable (a fire-and-forget backlog holds its bodies).
  collectGarbage();
  const heapEndMb = heap();
  const backlog = inFlight.size;
  ctx.log(`${mode} x ${concurrency}: ${finished} tasks; ${backlog} uploads still in flight`);
  // Let fire-and-forget uploads finish before the next mode (bounded wait).
  const settleBy = performance.now() + 120_000;
  while (inFlight.size > 0 && performance.now() < settleBy) await Promise.race([...inFlight, delay(1_000)]);
  const dropReasons = Object.entries(producer?.stats().dropped ?? {})
    .map(([reason, n]) => [reason, n - (droppedBefore[reason as keyof typeof droppedBefore] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  if (ELSEWHERE.includes(mode) && !last) {
    // The backlog is archived before the next mode, with the consumer running, off the clock.
    await world.consumerRunning(true);
    await world.drain();
  }
  return {
    mode,
    concurrency,
    tasks: finished,
    tasksPerSecond: finished / elapsed,
    p50: median(latencies),
    p99: percentile(latencies, 99),
    lagP99: lag.percentile(99) / 1e6,
    lagMax: lag.max / 1e6,
    heapStartMb,
    heapEndMb,
    heapMaxMb: Math.max(heapStartMb, ...heapSeries.map(([, mb]) => mb)),
    backlog,
    dropped,
    dropReasons,
    kept: finished === 0 ? 0 : (finished - dropped) / finished,
    heapSeries,
  };
}

await runBench('task-worker', async (ctx) => {
  const redisServer = await startRedis();
  const s3 = await startS3({ latencyMs: 75 });
  const redis = benchRedis(redisServer.url);
  const queueName = uniqueQueue('tasks');
  const consumerConfig = {
    redisUrl: redisServer.url,
    queueName,
    bucket: s3.bucket,
    s3Endpoint: s3.endpoint,
    credentials: s3.credentials,
  };
  let consumer: BenchConsumer | undefined;
  const consumerRunning = async (running: boolean): Promise<void> => {
    if (running && consumer === undefined) consumer = await startConsumer(consumerConfig);
    if (!running && consumer !== undefined) {
      await consumer.stop();
      consumer = undefined;
    }
  };
  // The SDK's default client: its own handler and agent (50 sockets).
  const sdkDefault = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  // The producer as enqueueDebugPayload makes it, pointed at this run's Redis and queue, with
  // room for every payload of a run (the consumer-elsewhere mode archives them afterwards).
  const producerOptions = {
    redisUrl: redisServer.url,
    queueName,
    maxQueued: 100_000,
    maxQueuedBytes: 4 * 1024 ** 3,
    logger: silentLogger,
  };
  const producer = createDebugPayloadProducer(producerOptions);
  const unlimited = createDebugPayloadProducer({ ...producerOptions, maxCpuShare: 1 });
  for (const warming of [producer, unlimited]) {
    await warming.enqueue(benchPayload(100e3).value, { taskId: 'warm-up' });
  }
  const world: World = {
    s3,
    redis,
    sdkDefault,
    producer,
    unlimited,
    consumerRunning,
    drain: () => waitDrained(redis, queueName, 600_000, 50),
  };
  const concurrencies = ctx.quick ? [10] : [30, 100, 300];
  if (ctx.quick) Object.assign(BANK_CALLS, { count: 3, minMs: 30, maxMs: 80 });
  const results: ModeResult[] = [];
  for (const concurrency of concurrencies) {
    const seconds = ctx.quick ? 0.5 : modeSeconds(concurrency);
    for (const mode of MODES) {
      ctx.log(`${mode}, ${concurrency} concurrent tasks, ${seconds} s`);
      const last =
        concurrency === concurrencies[concurrencies.length - 1] && mode === MODES[MODES.length - 1];
      results.push(await runMode(ctx, world, mode, concurrency, seconds, last));
    }
  }
  await producer.close();
  await unlimited.close();
  sdkDefault.destroy();
  await consumerRunning(false);
  await redis.flushdb();

  const headline: Headline[] = [];
  for (const concurrency of concurrencies) {
    const find = (mode: Mode) => results.find((r) => r.concurrency === concurrency && r.mode === mode);
    const base = find('none');
    const elsewhere = find('enqueue, consumer elsewhere');
    const unlimited = find('enqueue, no CPU limit, consumer elsewhere');
    const sameBox = find('enqueue');
    const fire = find('fire-and-forget');
    const floor = find('stringify + SET (floor)');
    if (!base || !elsewhere || !unlimited || !sameBox || !fire || !floor) continue;
    headline.push({
      benchmark: '4 task worker',
      metric: `${concurrency} concurrent tasks: enqueue p99 / no-archiving p99, consumer on another machine, default CPU share ${defaults.maxCpuShare} (${fixed(elsewhere.p99, 0)} vs ${fixed(base.p99, 0)} ms, ${percent(elsewhere.kept)} of payloads archived; with no CPU limit ${ratio(unlimited.p99 / base.p99)} and ${percent(unlimited.kept)}; the floor, stringify + SET of every payload, ${ratio(floor.p99 / base.p99)}; consumer on the same 2 cores ${ratio(sameBox.p99 / base.p99)}; fire-and-forget ${ratio(fire.p99 / base.p99)})`,
      goal: '<= 1.1x',
      measured: ratio(elsewhere.p99 / base.p99),
      met: elsewhere.p99 / base.p99 <= 1.1,
    });
    headline.push({
      benchmark: '4 task worker',
      metric: `${concurrency} concurrent tasks: heap left reachable after the run (after GC), enqueue vs fire-and-forget (${fixed(elsewhere.heapEndMb - elsewhere.heapStartMb, 0)} MB vs ${fixed(fire.heapEndMb - fire.heapStartMb, 0)} MB, ${fire.backlog} uploads still in flight)`,
      goal: 'flat while fire-and-forget grows',
      measured: `${fixed(elsewhere.heapEndMb - elsewhere.heapStartMb, 0)} MB`,
      met: elsewhere.heapEndMb - elsewhere.heapStartMb < 20 && sameBox.heapEndMb - sameBox.heapStartMb < 20,
    });
  }
  const top = concurrencies[concurrencies.length - 1] ?? 30;
  const markdown = [
    `Each task awaits ${BANK_CALLS.count} simulated bank calls (${BANK_CALLS.minMs}-${BANK_CALLS.maxMs} ms each), parses a 20 KB JSON answer after each, and ends with one of four 1 MB payloads. Each mode runs for about ${MIN_TASKS} tasks and at least 10 s (${concurrencies.map((c) => `${c} tasks at once: ${ctx.quick ? 0.5 : modeSeconds(c)} s`).join(', ')}); "stringify + SET (floor)" ends each task with \`JSON.stringify\` and one Redis \`SET\` of the payload, the least any design that takes the payload out of the task's process does on the task's thread (benchmark 3's floor); S3 is s3rver behind a 75 ms latency proxy, in its own process on the same two cores. fire-and-forget and awaited upload use \`new S3Client()\` defaults (NodeHttpHandler, 50 sockets) and \`JSON.stringify\` the payload as the body. "enqueue" runs the consumer (defaults, its own process) on the same two cores during the run, so its CPU competes with the tasks'; "enqueue, consumer elsewhere" stands for the consumer on another machine: it is stopped during the run and archives the backlog afterwards, off the clock. Both use the producer's defaults, among them its CPU share (\`maxCpuShare\` ${defaults.maxCpuShare}: enqueues may take that share of the event loop, and payloads past it are dropped as \`cpu_budget\`, failed tasks' last); "no CPU limit" is the same producer with \`maxCpuShare\` 1, which archives every payload it has room for. The producer's bounds are raised (4 GiB) so no payload is dropped for room; drops left are the producer's own (CPU share, in-flight bytes, Redis timeouts).`,
    '',
    table(
      [
        'tasks at once',
        'mode',
        'tasks/s',
        'p50 ms',
        'p99 ms',
        'p99 vs none',
        'loop lag p99 ms',
        'loop lag max ms',
        'heap start -> end (after GC) MB',
        'heap max MB',
        'uploads in flight at end',
        'dropped',
        'payloads archived',
      ],
      results.map((r) => {
        const base = results.find((b) => b.concurrency === r.concurrency && b.mode === 'none');
        return [
          r.concurrency,
          r.mode,
          fixed(r.tasksPerSecond, 1),
          fixed(r.p50, 0),
          fixed(r.p99, 0),
          base ? ratio(r.p99 / base.p99) : 'n/a',
          fixed(r.lagP99, 1),
          fixed(r.lagMax, 1),
          `${fixed(r.heapStartMb, 0)} -> ${fixed(r.heapEndMb, 0)}`,
          fixed(r.heapMaxMb, 0),
          r.backlog,
          r.dropReasons === '' ? String(r.dropped) : `${r.dropped} (${r.dropReasons})`,
          r.mode === 'none' ? '—' : percent(r.kept),
        ];
      }),
    ),
    '',
    '![heap over time](charts/task-worker-heap.svg)',
  ].join('\n');
  const charts = [
    {
      file: 'task-worker-heap.svg',
      title: 'task worker heap',
      svg: lineChart({
        title: `Task worker heap used, ${top} concurrent tasks`,
        xLabel: 'seconds',
        leftLabel: 'heap used MB',
        series: results
          .filter((r) => r.concurrency === top)
          .map((r) => ({ name: r.mode, points: r.heapSeries })),
      }),
    },
  ];
  return { id: 'task-worker', title: '4. Task worker simulation', markdown, headline, charts, proposals: [] };
});
