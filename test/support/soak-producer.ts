/**
 * A task worker for the soak test: `node --expose-gc soak-producer.ts '<SoakProducerConfig JSON>'`.
 * Connects, prints `ready`, waits for `go` on stdin, then enqueues sample payloads through the
 * public producer API at a fixed rate for the whole schedule. Every enqueue is paired with a
 * control operation timed right next to it (the same JSON.stringify of the same payload and a
 * PING on the same connection), in alternating order, so the enqueue/control ratio of a window
 * does not move with how busy the machine is. Prints `queued <key>` for each queued payload as
 * it happens (nothing accumulates in this heap), then one `result {...}` line, then waits for
 * `stop` before it closes the producer and exits.
 */
import { createInterface, type Interface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { samplePayload, type SamplePayload } from '../../src/demo/sample-payload.ts';
import type { DropReason, EnqueueResult } from '../../src/index.ts';
import { connectChildProducer } from './child-producer.ts';
import {
  QUEUED_PREFIX,
  RESULT_PREFIX,
  SOAK_GO,
  SOAK_READY,
  SOAK_STOP,
  windowOf,
  type LeakSnapshot,
  type SoakProducerConfig,
  type SoakProducerResult,
  type WindowLatency,
} from './soak-protocol.ts';
import { countBy, median } from './soak-stats.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as SoakProducerConfig;
const { schedule } = config;
const collect = globalThis.gc;
if (collect === undefined) throw new Error('run the soak producer with --expose-gc');

/** Heap still reachable: two full collections (the second catches what finalizers freed). */
function heapUsedAfterGc(): number {
  collect?.();
  collect?.();
  return process.memoryUsage().heapUsed;
}

function nextLine(lines: Interface, expected: string): Promise<void> {
  return new Promise((resolve) => {
    const onLine = (line: string): void => {
      if (line.trim() !== expected) return;
      lines.off('line', onLine);
      resolve();
    };
    lines.on('line', onLine);
  });
}

// The client is the producer's own kind, so the child can count its listeners and send the
// control PINGs on the same kind of connection.
const { redis, producer } = await connectChildProducer({
  redisUrl: config.redisUrl,
  queueName: config.queueName,
  enqueueTimeoutMs: 1_000,
  maxQueued: config.maxQueued,
  maxQueuedBytes: config.maxQueuedBytes,
  maxPayloadBytes: config.maxPayloadBytes,
});

// A fixed pool made before the run: the payloads' memory is the same at every heap snapshot.
const pool: SamplePayload[] = config.payloadBytes.map((targetBytes, index) =>
  samplePayload({ seed: config.seed * 1_000 + index, targetBytes }),
);
const poolBytes = pool.map((payload) => Buffer.byteLength(JSON.stringify(payload)));

// Samples of the two windows, preallocated so that recording them allocates nothing on the heap.
const capacity = Math.ceil(config.ratePerSecond * schedule.windowSeconds * 1.2) + 64;
function windowBuffer() {
  return {
    count: 0,
    enqueueMs: new Float64Array(capacity),
    controlMs: new Float64Array(capacity),
    queued: new Uint8Array(capacity),
  };
}
const windows = { first: windowBuffer(), last: windowBuffer() };

function listenerCounts(emitter: NodeJS.EventEmitter): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
  return counts;
}

function leakSnapshot(): LeakSnapshot {
  return {
    redisListeners: listenerCounts(redis),
    socketListeners: listenerCounts(redis.stream),
    activeResources: countBy(process.getActiveResourcesInfo()),
    heapUsedBytes: heapUsedAfterGc(),
  };
}

function summarise(buffer: ReturnType<typeof windowBuffer>): WindowLatency {
  const ratios: number[] = [];
  const droppedRatios: number[] = [];
  const queuedRatios: number[] = [];
  let queued = 0;
  for (let index = 0; index < buffer.count; index += 1) {
    const ratio = (buffer.enqueueMs[index] ?? 0) / (buffer.controlMs[index] ?? 1);
    ratios.push(ratio);
    if (buffer.queued[index] === 1) {
      queued += 1;
      queuedRatios.push(ratio);
    } else {
      droppedRatios.push(ratio);
    }
  }
  return {
    samples: buffer.count,
    queued,
    enqueueMedianMs: median(buffer.enqueueMs.subarray(0, buffer.count)),
    controlMedianMs: median(buffer.controlMs.subarray(0, buffer.count)),
    ratioMedian: median(ratios),
    droppedRatioMedian: median(droppedRatios),
    queuedRatioMedian: median(queuedRatios),
    ratios,
    droppedRatios,
  };
}

const lines = createInterface({ input: process.stdin });
const go = nextLine(lines, SOAK_GO);
const stop = nextLine(lines, SOAK_STOP);
process.stdout.write(`${SOAK_READY}\n`);
await go;

let attempts = 0;
let queued = 0;
let queuedBytes = 0;
let rejected = 0;
let late = 0;
const dropped: Partial<Record<DropReason, number>> = {};
let start: LeakSnapshot | undefined;
let firstWindowHeapUsedBytes: number | undefined;

async function timedEnqueue(
  index: number,
  payload: SamplePayload,
): Promise<[EnqueueResult | undefined, number]> {
  const started = performance.now();
  try {
    const result = await producer.enqueue(payload, {
      taskId: `${config.tag}-${index}`,
      integration: payload.task.integration,
    });
    return [result, performance.now() - started];
  } catch {
    return [undefined, performance.now() - started];
  }
}

/** What every enqueue does at least: stringify the payload, measure it, one round trip. */
async function timedControl(payload: SamplePayload): Promise<number> {
  const started = performance.now();
  const json = JSON.stringify(payload);
  if (Buffer.byteLength(json) === 0) throw new Error('empty payload');
  await redis.ping();
  return performance.now() - started;
}

const intervalMs = 1_000 / config.ratePerSecond;
const startedAt = performance.now();
let planned = startedAt;
for (let index = 0; ; index += 1) {
  const at = (performance.now() - startedAt) / 1_000;
  if (at >= schedule.seconds) break;
  const window = windowOf(schedule, at);
  // Snapshots at the same point of the loop: between two iterations, nothing under way.
  if (window !== 'warmup' && start === undefined) start = leakSnapshot();
  if ((window === 'middle' || window === 'last') && firstWindowHeapUsedBytes === undefined) {
    firstWindowHeapUsedBytes = heapUsedAfterGc();
  }

  const payloadIndex = index % pool.length;
  const payload = pool[payloadIndex];
  if (payload === undefined) throw new Error('empty payload pool');
  let result: EnqueueResult | undefined;
  let enqueueMs: number;
  let controlMs: number;
  if (index % 2 === 0) {
    [result, enqueueMs] = await timedEnqueue(index, payload);
    controlMs = await timedControl(payload);
  } else {
    controlMs = await timedControl(payload);
    [result, enqueueMs] = await timedEnqueue(index, payload);
  }

  attempts += 1;
  if (result === undefined) {
    rejected += 1;
  } else if (result.status === 'queued') {
    queued += 1;
    queuedBytes += poolBytes[payloadIndex] ?? 0;
    process.stdout.write(`${QUEUED_PREFIX}${result.key}\n`);
  } else {
    dropped[result.reason] = (dropped[result.reason] ?? 0) + 1;
  }
  if (window === 'first' || window === 'last') {
    const buffer = windows[window];
    if (buffer.count < capacity) {
      buffer.enqueueMs[buffer.count] = enqueueMs;
      buffer.controlMs[buffer.count] = controlMs;
      buffer.queued[buffer.count] = result?.status === 'queued' ? 1 : 0;
      buffer.count += 1;
    }
  }

  planned += intervalMs;
  const wait = planned - performance.now();
  if (wait > 0) {
    await delay(wait);
  } else {
    // Behind schedule: go on at once, without a burst to catch up.
    late += 1;
    planned = performance.now();
  }
}

const end = leakSnapshot();
if (start === undefined || firstWindowHeapUsedBytes === undefined) {
  throw new Error(`the schedule (${JSON.stringify(schedule)}) left no first window`);
}
const result: SoakProducerResult = {
  tag: config.tag,
  attempts,
  queued,
  queuedBytes,
  dropped,
  stats: producer.stats(),
  rejected,
  late,
  payloadBytes: { min: Math.min(...poolBytes), max: Math.max(...poolBytes) },
  start,
  firstWindowHeapUsedBytes,
  end,
  first: summarise(windows.first),
  last: summarise(windows.last),
};
process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
await stop;
lines.close();
await producer.close();
await redis.quit();
