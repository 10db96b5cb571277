/**
 * Benchmark 3, the producer's cost to a task: createDebugPayloadProducer().enqueue wall time
 * and CPU against the floor of one JSON.stringify plus one Redis SET of the same bytes
 * (ioredis), the longest event-loop stall an enqueue causes, and what incremental
 * serialisation (jsonChunks, yielding between chunks, APPEND to Redis) would give.
 *
 *   scripts/with-node.sh node --expose-gc bench/producer-cost.ts [--quick]
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { jsonChunks } from '../src/encoding/json-chunks.ts';
import { createDebugPayloadProducer, type DebugPayloadProducer } from '../src/producer/producer.ts';
import { runBench } from './lib/entry.ts';
import { compare, longestStall, median } from './lib/measure.ts';
import { benchPayload, payloadSizes, type BenchPayload } from './lib/payloads.ts';
import { silentLogger, uniqueQueue } from './lib/pipeline.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { benchRedis, startRedis } from './lib/services.ts';

/** The floor: what any design must do at least, once. */
async function floor(redis: Redis, payload: BenchPayload, key: string): Promise<void> {
  const json = JSON.stringify(payload.value);
  await redis.set(key, json);
}

/** The floor, with the SET made from a Lua script as the ledger's store script does. */
const SET_FROM_LUA = "redis.call('SET', KEYS[1], ARGV[1]) return 1";
async function floorLua(redis: Redis, payload: BenchPayload, key: string): Promise<void> {
  const json = JSON.stringify(payload.value);
  await redis.eval(SET_FROM_LUA, 1, key, json);
}

/** Small chunks: each is one synchronous stretch of the task's event loop. */
const INCREMENTAL_CHUNK_BYTES = 64 * 1024;

/**
 * Incremental alternative (not in src/): the JSON made chunk by chunk with the event loop
 * turning in between, sent as SET + APPENDs of about 1 MiB (ioredis pipelines them), so neither
 * stringify nor the socket write is one long synchronous stretch.
 */
async function incremental(redis: Redis, payload: BenchPayload, key: string): Promise<void> {
  const sendEvery = 1024 * 1024;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let first = true;
  const sent: Promise<unknown>[] = [];
  const flush = (): void => {
    const body = batch.length === 1 && batch[0] !== undefined ? batch[0] : Buffer.concat(batch);
    sent.push(first ? redis.set(key, body) : redis.append(key, body));
    first = false;
    batch = [];
    batchBytes = 0;
  };
  for (const chunk of jsonChunks(payload.value, INCREMENTAL_CHUNK_BYTES)) {
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= sendEvery) flush();
    await nextTurn();
  }
  if (batchBytes > 0 || sent.length === 0) flush();
  await Promise.all(sent);
}

interface Row {
  label: string;
  wall: { enqueue: number; floor: number; incremental: number };
  cpu: { enqueue: number; floor: number; incremental: number };
  wallRatio: number;
  cpuRatio: number;
  /** Floor with its SET made inside a Lua script (EVAL carrying the JSON), over the plain floor. */
  luaRatio: number;
  incrementalWallRatio: number;
  stall: { enqueue: number; floor: number; incremental: number };
}

await runBench('producer-cost', async (ctx) => {
  const server = await startRedis();
  const redis = benchRedis(server.url);
  const queueName = uniqueQueue('producer');
  const producer: DebugPayloadProducer = createDebugPayloadProducer({
    redisUrl: server.url,
    queueName,
    maxQueued: 1_000_000,
    maxQueuedBytes: 16 * 1024 ** 3,
    maxPayloadBytes: 512 * 1024 ** 2,
    maxInFlightBytes: 2 * 1024 ** 3,
    logger: silentLogger,
  });
  const enqueue = async (payload: BenchPayload): Promise<void> => {
    const result = await producer.enqueue(payload.value, { taskId: 'bench-task', integration: 'bench' });
    if (result.status !== 'queued') throw new Error(`enqueue dropped: ${JSON.stringify(result)}`);
  };
  // The first enqueue makes the connection and the BullMQ Queue: outside every clock.
  await enqueue(benchPayload(100e3));
  const flush = async (): Promise<void> => {
    await redis.flushdb();
  };

  const pings: number[] = [];
  for (let i = 0; i < 200; i += 1) {
    const t0 = performance.now();
    await redis.ping();
    pings.push(performance.now() - t0);
  }
  const rttMs = median(pings);

  const rows: Row[] = [];
  for (const size of payloadSizes(ctx.quick)) {
    const payload = benchPayload(size);
    ctx.log(`enqueue vs floor: ${payload.label}`);
    let n = 0;
    const result = await compare(
      [
        { name: 'enqueue', run: () => enqueue(payload), afterSample: flush },
        { name: 'floor', run: () => floor(redis, payload, `floor-${(n += 1)}`), afterSample: flush },
        {
          name: 'incremental',
          run: () => incremental(redis, payload, `inc-${(n += 1)}`),
          afterSample: flush,
        },
        { name: 'floorLua', run: () => floorLua(redis, payload, `lua-${(n += 1)}`), afterSample: flush },
      ],
      { rounds: ctx.quick ? 3 : size >= 10e6 ? 7 : 11, minSampleMs: ctx.quick ? 30 : 200 },
    );
    const stalls = { enqueue: [] as number[], floor: [] as number[], incremental: [] as number[] };
    for (let i = 0; i < (ctx.quick ? 3 : 8); i += 1) {
      stalls.enqueue.push((await longestStall(() => enqueue(payload))).stallMs);
      stalls.floor.push((await longestStall(() => floor(redis, payload, 'stall-floor'))).stallMs);
      stalls.incremental.push((await longestStall(() => incremental(redis, payload, 'stall-inc'))).stallMs);
      await flush();
    }
    const v = (name: string) => result.variants[name];
    rows.push({
      label: payload.label,
      wall: {
        enqueue: v('enqueue')?.medianMs ?? Number.NaN,
        floor: v('floor')?.medianMs ?? Number.NaN,
        incremental: v('incremental')?.medianMs ?? Number.NaN,
      },
      cpu: {
        enqueue: v('enqueue')?.medianCpuMs ?? Number.NaN,
        floor: v('floor')?.medianCpuMs ?? Number.NaN,
        incremental: v('incremental')?.medianCpuMs ?? Number.NaN,
      },
      wallRatio: result.timeRatio('enqueue', 'floor'),
      cpuRatio: result.cpuRatio('enqueue', 'floor'),
      luaRatio: result.timeRatio('floorLua', 'floor'),
      incrementalWallRatio: result.timeRatio('incremental', 'floor'),
      // The longest stall seen over the runs: a task feels the worst one.
      stall: {
        enqueue: Math.max(...stalls.enqueue),
        floor: Math.max(...stalls.floor),
        incremental: Math.max(...stalls.incremental),
      },
    });
  }
  await producer.close();

  const worstWall = Math.max(...rows.map((r) => r.wallRatio));
  const worstCpu = Math.max(...rows.map((r) => r.cpuRatio));
  const largest = rows[rows.length - 1];
  const headline: Headline[] = [
    {
      benchmark: '3 producer',
      metric: `enqueue wall / (stringify + SET) floor, worst size (${rows.map((r) => `${r.label} ${fixed(r.wallRatio)}`).join(', ')})`,
      goal: '<= 1.3x',
      measured: ratio(worstWall),
      met: worstWall <= 1.3,
    },
    {
      benchmark: '3 producer',
      metric: `enqueue CPU / floor CPU, worst size (${rows.map((r) => `${r.label} ${fixed(r.cpuRatio)}`).join(', ')})`,
      goal: '<= 1.3x',
      measured: ratio(worstCpu),
      met: worstCpu <= 1.3,
    },
    {
      benchmark: '3 producer',
      metric: `longest event-loop stall per enqueue (${rows.map((r) => `${r.label} ${fixed(r.stall.enqueue, 1)} ms`).join(', ')}); incremental alternative at ${largest?.label ?? ''}`,
      goal: 'small whatever the size',
      measured: `${fixed(largest?.stall.enqueue ?? Number.NaN, 1)} ms (incremental: ${fixed(largest?.stall.incremental ?? Number.NaN, 1)} ms)`,
      met: undefined,
    },
  ];
  const markdown = [
    `One producer (its defaults, bounds raised so nothing is dropped) against a private redis-server on loopback; Redis round trip (PING) median ${fixed(rttMs * 1000, 0)} µs. "floor" = \`JSON.stringify\` + one \`SET\` of the same JSON with ioredis. "incremental" = a bench-side alternative: \`jsonChunks\` with the event loop turning between 64 KiB chunks, sent as SET + APPEND of ~1 MiB. Wall and CPU (process.cpuUsage, this process: includes ioredis) are medians per enqueue, ratios medians of interleaved rounds; Redis is flushed between samples. Stall = longest gap of a 1 ms timer during one call, worst of the runs.`,
    '',
    table(
      [
        'payload',
        'enqueue ms',
        'floor ms',
        'wall ratio',
        'enqueue CPU ms',
        'floor CPU ms',
        'CPU ratio',
        'stall: enqueue',
        'stall: floor',
        'floor via Lua / floor',
        'incremental ms',
        'incremental / floor',
        'stall: incremental',
      ],
      rows.map((r) => [
        r.label,
        fixed(r.wall.enqueue, 2),
        fixed(r.wall.floor, 2),
        ratio(r.wallRatio),
        fixed(r.cpu.enqueue, 2),
        fixed(r.cpu.floor, 2),
        ratio(r.cpuRatio),
        `${fixed(r.stall.enqueue, 1)} ms`,
        `${fixed(r.stall.floor, 1)} ms`,
        ratio(r.luaRatio),
        fixed(r.wall.incremental, 2),
        ratio(r.incrementalWallRatio),
        `${fixed(r.stall.incremental, 1)} ms`,
      ]),
    ),
    '',
    "An enqueue is the floor plus two more round trips (the admission script before the store, BullMQ's add script after it) and the job's bookkeeping; and its store is a Lua script that receives the whole JSON as an argument and SETs it (\"floor via Lua\" isolates that cost: Redis copies the bytes into a Lua string and back). At small sizes the round trips dominate the ratio; at large sizes stringify, the Lua copy and the socket write do, and the stall grows with the size because `JSON.stringify` and ioredis's write of one string are synchronous.",
  ].join('\n');
  const proposals: string[] = [];
  if (largest) {
    proposals.push(
      `Producer serialisation (src/producer/producer.ts \`serialize\` + \`ledger.storePayload\`): stringify with jsonChunks and yield between chunks, sending SET + APPEND per ~1 MiB instead of one JSON.stringify + one SET: longest stall at ${largest.label} ${fixed(largest.stall.enqueue, 1)} ms -> ${fixed(largest.stall.incremental, 1)} ms, for ${ratio(largest.incrementalWallRatio)} the floor's wall time (enqueue today: ${ratio(largest.wallRatio)}). The payload must not be mutated by the task while the enqueue is under way (it awaits it anyway).`,
    );
    proposals.push(
      `Producer store (src/admission-ledger.ts \`storeScript\`): the JSON travels as an EVALSHA argument and is SET from Lua, which costs ${rows.map((r) => `${r.label} ${ratio(r.luaRatio)}`).join(', ')} the plain SET floor. Send a plain \`SET\` and, in the same pipeline, a tiny script that deletes the key again if the reservation is gone (HEXISTS false): same round trips, no copy of the payload through Lua.`,
    );
    const small = rows[0];
    if (small) {
      proposals.push(
        `Producer round trips: at ${small.label} an enqueue is ${ratio(small.wallRatio)} the floor because it takes three sequential round trips (reserve script, store script, Queue.add; PING ${fixed(rttMs * 1000, 0)} µs) where the floor takes one. For small payloads (say under 256 KiB) reserve and store in one script: a refused payload then costs the producer its few hundred KB sent for nothing, and every admitted one saves a round trip.`,
      );
    }
  }
  return { id: 'producer-cost', title: '3. Producer cost', markdown, headline, charts: [], proposals };
});
