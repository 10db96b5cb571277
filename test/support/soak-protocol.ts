import type { DropReason } from '../../src/index.ts';

/**
 * The soak's schedule, in seconds after `go`: a warm-up (JIT, connections, the queue filling),
 * then a first window, a stretch in between, and a last window that ends the run.
 */
export interface SoakSchedule {
  seconds: number;
  warmupSeconds: number;
  windowSeconds: number;
}

export function soakSchedule(seconds: number): SoakSchedule {
  if (!Number.isFinite(seconds) || seconds < 50)
    throw new Error(`a soak needs 50 s at least, not ${seconds}`);
  // Producers' JIT and connections settle in seconds; the consumer's heap and malloc arenas grow
  // to their working size over its first minute or so (its RSS then stays flat for minutes).
  const warmupSeconds = 20;
  // Long enough for thousands of samples per window, short enough to leave a stretch between them.
  const windowSeconds = Math.min(60, (seconds - warmupSeconds) / 3);
  return { seconds, warmupSeconds, windowSeconds };
}

/** The window an instant (seconds after `go`) falls in. */
export function windowOf(schedule: SoakSchedule, at: number): 'warmup' | 'first' | 'middle' | 'last' {
  if (at < schedule.warmupSeconds) return 'warmup';
  if (at < schedule.warmupSeconds + schedule.windowSeconds) return 'first';
  if (at < schedule.seconds - schedule.windowSeconds) return 'middle';
  return 'last';
}

/** What the test tells a soak producer child (its only argument, as JSON). */
export interface SoakProducerConfig {
  redisUrl: string;
  queueName: string;
  /** Task ids are `{tag}-{index}`. */
  tag: string;
  schedule: SoakSchedule;
  /** Enqueues a second this producer aims at (it never catches up on a late one). */
  ratePerSecond: number;
  maxQueued: number;
  maxQueuedBytes: number;
  maxPayloadBytes: number;
  /** Seed of the payload pool (src/demo/sample-payload.ts). */
  seed: number;
  /** Sizes (JSON bytes, approximate) of the payloads in the pool, used in turn. */
  payloadBytes: readonly number[];
}

/** Median, over a window, of each measure; `ratio` is the median of enqueue/control per pair. */
export interface WindowLatency {
  samples: number;
  /** How many of them were queued (the others dropped). */
  queued: number;
  enqueueMedianMs: number;
  controlMedianMs: number;
  ratioMedian: number;
  /** The same, over the dropped enqueues only (one round trip, like the control). */
  droppedRatioMedian: number;
  /** The same, over the queued enqueues only (three round trips and the payload's bytes). */
  queuedRatioMedian: number;
  /** Per-pair ratios of the window, for the pooled statistics in the test. */
  ratios: number[];
  droppedRatios: number[];
}

/** Leak indicators taken at the same point of the loop at the end of warm-up and at the end. */
export interface LeakSnapshot {
  /** Listeners on the producer's ioredis client, by event. */
  redisListeners: Record<string, number>;
  /** Listeners on its socket, by event. */
  socketListeners: Record<string, number>;
  /** process.getActiveResourcesInfo(), counted by kind. */
  activeResources: Record<string, number>;
  /** heapUsed after two full collections (global.gc). */
  heapUsedBytes: number;
}

/** The child's result line on stdout, once its schedule ran out (it then waits for `stop`). */
export interface SoakProducerResult {
  tag: string;
  attempts: number;
  queued: number;
  queuedBytes: number;
  /** Counted from the EnqueueResults this child received. */
  dropped: Partial<Record<DropReason, number>>;
  /** The producer's own counters (stats()). */
  stats: { queued: number; evicted: number; dropped: Record<DropReason, number>; inFlightBytes: number };
  /** Enqueues that rejected instead of resolving (a broken contract). */
  rejected: number;
  /** Attempts that started later than planned (the machine could not keep the rate). */
  late: number;
  payloadBytes: { min: number; max: number };
  start: LeakSnapshot;
  /** heapUsed after full collections at the end of the first window. */
  firstWindowHeapUsedBytes: number;
  end: LeakSnapshot;
  first: WindowLatency;
  last: WindowLatency;
}

/** Printed once the child is connected and waits for `go` on stdin. */
export const SOAK_READY = 'ready';
export const SOAK_GO = 'go';
/** Sent by the test once it has read every result, to let the children close and exit. */
export const SOAK_STOP = 'stop';
/** Prefix of the line a child prints for each queued payload: `queued <key>`. */
export const QUEUED_PREFIX = 'queued ';
/** Prefix of the result line. */
export const RESULT_PREFIX = 'result ';
