import { setImmediate as nextTurn } from 'node:timers/promises';
import { createIORedisClient, Job, Queue, type JobsOptions } from 'bullmq';
import type { Registry } from 'prom-client';
import {
  AdmissionLedger,
  type FollowUp,
  type PayloadOutcome,
  type Reservation,
  type StoreOutcome,
} from '../admission-ledger.ts';
import { jsonLengthExceeds } from '../encoding/json-length.ts';
import { utf8Concat } from '../encoding/utf8-concat.ts';
import { jsonPieces } from './incremental-json.ts';
import { Ticker } from './ticker.ts';
import { CpuBudget } from './cpu-budget.ts';
import { formatRedactionSummary, Redactor } from '../redaction/redactor.ts';
import { ARCHIVE_JOB_NAME, type ArchiveJobData } from '../archive-job.ts';
import { resolveProducerSettings, type ProducerSettings } from '../config.ts';
import { InvalidMetaError } from '../errors.ts';
import { createDefaultLogger, type Logger } from '../logger.ts';
import { producerMetrics } from '../metrics/definitions.ts';
import { buildObjectKey, newPayloadId } from '../object-key.ts';
import { createProducerRedis, type RedisClient } from '../redis-client.ts';
import { DropLog } from './drop-log.ts';

/**
 * Why a payload was not queued. The set is closed; each is counted in `stats().dropped`.
 * - `queue_full`: `maxQueued` payloads are admitted and not yet archived.
 * - `queue_bytes_full`: admitting it would pass `maxQueuedBytes`.
 * - `payload_too_large`: its JSON is over `maxPayloadBytes`.
 * - `not_serializable`: `JSON.stringify` threw (a cycle, a BigInt, a throwing getter, nesting
 *   too deep) or returned nothing (undefined, a function, a symbol).
 * - `redis_unavailable`: Redis is not connected, or did not answer within `enqueueTimeoutMs`.
 * - `producer_busy`: this process already has `maxInFlightBytes` on their way to Redis.
 * - `cpu_budget`: enqueues have used their share of this process's time (`maxCpuShare`).
 * - `producer_closed`: `close()` was called.
 * - `sampled_out`: a succeeded task's payload not kept by `successSampleRate`.
 * - `evicted`: admitted, then evicted for a more valuable payload before its bytes were stored.
 */
export const DROP_REASONS = [
  'queue_full',
  'queue_bytes_full',
  'payload_too_large',
  'not_serializable',
  'redis_unavailable',
  'producer_busy',
  'cpu_budget',
  'producer_closed',
  'sampled_out',
  'evicted',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface DebugPayloadMeta {
  /** The task the payload belongs to; part of the object key. Required. */
  taskId: string;
  /** The integration (bank, site, API) the task talked to; part of the object key. */
  integration?: string;
  /** How the task ended; tags the object (`outcome`) so lifecycle rules can keep failures longer. */
  outcome?: 'failed' | 'succeeded';
}

export type EnqueueResult =
  { status: 'queued'; payloadId: string; key: string } | { status: 'dropped'; reason: DropReason };

export interface ProducerStats {
  queued: number;
  /** Waiting payloads pushed out to admit more valuable or newer ones (see admissionPolicy). */
  evicted: number;
  dropped: Record<DropReason, number>;
  /** JSON bytes this process holds for enqueues under way: being serialised or sent to Redis. */
  inFlightBytes: number;
}

export interface DebugPayloadProducer {
  /**
   * Queues the payload for archiving. Resolves within about `enqueueTimeoutMs` and never
   * rejects for operational trouble: a full queue, an oversized or unserialisable payload or an
   * unreachable Redis all resolve `{ status: 'dropped', reason }`. Throws only when `meta` is
   * unusable (a programming error).
   */
  enqueue(payload: unknown, meta: DebugPayloadMeta): Promise<EnqueueResult>;
  /** Counters since creation. */
  stats(): ProducerStats;
  /** Waits for enqueues under way, then releases the Redis connection if the producer made it. */
  close(): Promise<void>;
}

export interface ProducerOptions extends Partial<ProducerSettings> {
  /** A live ioredis client to use instead of `redisUrl`; the caller keeps owning it. */
  redis?: RedisClient;
  logger?: Logger;
  /**
   * A prom-client registry (the host application's) to count enqueues in:
   * `debug_archiver_enqueue_total{result,reason}`, `debug_archiver_enqueue_duration_seconds`
   * and `debug_archiver_enqueued_bytes_total`. Producers may share one.
   */
  registry?: Registry;
}

/** Longer ids are surely a bug in the caller; shorter ones of any content are made safe in keys. */
const MAX_META_LENGTH = 65_536;

function checkMeta(meta: unknown): asserts meta is DebugPayloadMeta {
  if (typeof meta !== 'object' || meta === null) {
    throw new InvalidMetaError('enqueueDebugPayload(payload, meta): meta must be an object with a taskId');
  }
  const { taskId, integration, outcome } = meta as Partial<Record<keyof DebugPayloadMeta, unknown>>;
  if (outcome !== undefined && outcome !== 'failed' && outcome !== 'succeeded') {
    throw new InvalidMetaError("meta.outcome must be 'failed' or 'succeeded' when given");
  }
  if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > MAX_META_LENGTH) {
    throw new InvalidMetaError(
      `meta.taskId must be a non-empty string of at most ${MAX_META_LENGTH} characters`,
    );
  }
  if (
    integration !== undefined &&
    (typeof integration !== 'string' || integration.length === 0 || integration.length > MAX_META_LENGTH)
  ) {
    throw new InvalidMetaError(
      `meta.integration must be a non-empty string of at most ${MAX_META_LENGTH} characters when given`,
    );
  }
}

/**
 * Payloads whose JSON is estimated over this many characters are stringified incrementally
 * (the event loop turns every `YIELD_CHARS`) and sent in chunks after their reservation; the
 * others with one `JSON.stringify` and one round trip for reservation and bytes. At 1 MiB one
 * `JSON.stringify` + SET blocks the task's event loop for a few milliseconds, and the
 * incremental path costs about as much CPU as it saves from 1 MB up (bench/producer-cost.ts).
 */
export const INCREMENTAL_THRESHOLD_CHARS = 1024 * 1024;
/** Size of the chunks sent to Redis (SET, then SETRANGEs) on the incremental path. */
const CHUNK_BYTES = 1024 * 1024;
/** Characters stringified between two turns of the event loop on the incremental path. */
const YIELD_CHARS = 128 * 1024;

type Serialized =
  | { kind: 'whole'; json: string; bytes: number }
  | { kind: 'chunks'; chunks: Buffer[]; bytes: number }
  | { kind: 'refused'; reason: 'not_serializable' | 'payload_too_large' | 'producer_busy' | 'cpu_budget' };

/** Counts bytes against the process's in-flight budget; false when they do not fit. */
type Take = (bytes: number) => boolean;

function serialize(payload: unknown, redactor: Redactor | undefined, maxBytes: number): Serialized {
  let json: unknown;
  try {
    json = redactor === undefined ? JSON.stringify(payload) : JSON.stringify(payload, redactor.replacer());
  } catch {
    return { kind: 'refused', reason: 'not_serializable' };
  }
  if (typeof json !== 'string') return { kind: 'refused', reason: 'not_serializable' };
  // UTF-8 never takes fewer bytes than UTF-16 code units, so a long string fails without a scan.
  if (json.length > maxBytes) return { kind: 'refused', reason: 'payload_too_large' };
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) return { kind: 'refused', reason: 'payload_too_large' };
  return { kind: 'whole', json, bytes };
}

/**
 * The payload's JSON as chunks of about CHUNK_BYTES, made with the event loop turning every
 * YIELD_CHARS characters, so no stretch of it blocks the task for long. Stops as soon as the
 * JSON passes `maxBytes`. The payload must not change until the enqueue resolves.
 *
 * Other enqueues run while it waits for its turns, so what it holds is counted as it grows:
 * each piece's characters (never more than its UTF-8 bytes) and each chunk's remaining bytes
 * go through `take`, and it stops as `producer_busy` when they do not fit. The caller gives
 * back what was taken.
 */
export async function serializeInChunks(
  payload: unknown,
  maxBytes: number,
  take: Take = () => true,
  budget?: CpuBudget,
): Promise<Serialized> {
  if (budget?.measuring !== true) return serializeSlices(payload, maxBytes, take, nextTurn);
  // Each slice between two turns is paid for, on the budget's clock; the wait for the turn is not.
  let sliceStarted = budget.now();
  const turn = async (): Promise<void> => {
    budget.spend(budget.now() - sliceStarted);
    await nextTurn();
    sliceStarted = budget.now();
  };
  try {
    return await serializeSlices(payload, maxBytes, take, turn);
  } finally {
    budget.spend(budget.now() - sliceStarted);
  }
}

/**
 * The slices of serializeInChunks: `slice` runs synchronously until YIELD_CHARS more characters
 * are made or the JSON ends, and only the loop around it awaits. The same loop inside the async
 * function took 1.1x the time (10 MB of recorded traffic, interleaved).
 */
async function serializeSlices(
  payload: unknown,
  maxBytes: number,
  take: Take,
  turn: () => Promise<void>,
): Promise<Serialized> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let pending: string[] = [];
  let pendingChars = 0;
  // jsonPieces yields whole JSON text: a surrogate pair is never split between two pieces.
  const flush = (): boolean => {
    const chunk = utf8Concat(pending);
    if (!take(chunk.length - pendingChars)) return false;
    chunks.push(chunk);
    bytes += chunk.length;
    pending = [];
    pendingChars = 0;
    return true;
  };
  const pieces = jsonPieces(payload);
  /** Undefined when there is more to make after a turn. */
  const slice = (): Serialized | undefined => {
    let sliced = 0;
    try {
      for (let next = pieces.next(); next.done !== true; next = pieces.next()) {
        const piece = next.value;
        if (!take(piece.length)) return { kind: 'refused', reason: 'producer_busy' };
        pending.push(piece);
        pendingChars += piece.length;
        sliced += piece.length;
        if (pendingChars >= CHUNK_BYTES) {
          if (!flush()) return { kind: 'refused', reason: 'producer_busy' };
          if (bytes > maxBytes) return { kind: 'refused', reason: 'payload_too_large' };
        }
        if (sliced >= YIELD_CHARS) return undefined;
      }
    } catch {
      return { kind: 'refused', reason: 'not_serializable' };
    }
    if (pendingChars > 0 && !flush()) return { kind: 'refused', reason: 'producer_busy' };
    if (bytes > maxBytes) return { kind: 'refused', reason: 'payload_too_large' };
    return { kind: 'chunks', chunks, bytes };
  };
  for (let done = slice(); ; done = slice()) {
    if (done !== undefined) return done;
    await turn();
  }
}

/**
 * Creates a producer: one Redis connection and one BullMQ Queue for the life of the process,
 * whatever the number of calls.
 *
 * Memory: a payload's JSON (one string, or chunks of 1 MiB for large payloads) lives only
 * while its enqueue is under way, and this process never holds more than `maxInFlightBytes`
 * of them at once, plus the piece each incremental serialisation is making (about 64 KiB,
 * or one string of the payload) and the string of the one-go serialisation under way (it
 * is synchronous, so there is one); Redis holds at most `maxQueuedBytes` across all
 * producers (a payload's bytes are kept only under its reservation: a small payload's, sent
 * with it, are deleted in the step that refuses it).
 *
 * Round trips per enqueue: a payload under INCREMENTAL_THRESHOLD_CHARS takes one (its bytes,
 * the script that reserves and commits them, and BullMQ's add, sent one after the other; a
 * refused payload a second, to delete what held back its add; two on a Cluster); a larger one
 * takes one to reserve, its chunks (pipelined, a few unanswered at once), one to commit and
 * one to add.
 */
export function createDebugPayloadProducer(options: ProducerOptions = {}): DebugPayloadProducer {
  const { redis: givenRedis, logger = createDefaultLogger(), registry, ...tunables } = options;
  const metrics = registry === undefined ? undefined : producerMetrics(registry, DROP_REASONS);
  const settings = resolveProducerSettings(tunables);
  const redis =
    givenRedis ??
    createProducerRedis(settings.redisUrl, settings.enqueueTimeoutMs, {}, settings.redisCluster);
  const ownsRedis = givenRedis === undefined;
  const ledger = new AdmissionLedger(redis, settings.redisPrefix, settings.queueName);
  /** The same connection as BullMQ sees it (its adapter), to add a job on it directly. */
  const bullRedis = createIORedisClient(redis);
  const drops = new DropLog(logger);
  const stats: ProducerStats = {
    queued: 0,
    evicted: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>,
    inFlightBytes: 0,
  };
  const inFlight = new Set<Promise<EnqueueResult>>();
  /**
   * Incremental serialisations run one at a time, in call order. Interleaved, every large
   * payload would finish late (and all of them could run out of in-flight room together);
   * one after the other, the first is done first, and a payload waiting its turn holds nothing.
   */
  let serializing: Promise<unknown> = Promise.resolve();
  const serializeLarge = (payload: unknown, take: Take, priority: boolean): Promise<Serialized> => {
    // The budget may have run out while this payload waited for its turn.
    const turn = serializing.then((): Promise<Serialized> | Serialized =>
      budget.allows(priority)
        ? serializeInChunks(payload, settings.maxPayloadBytes, take, budget)
        : { kind: 'refused', reason: 'cpu_budget' },
    );
    serializing = turn.catch(() => undefined);
    return turn;
  };
  let queue: Promise<Queue> | undefined;
  let closed = false;
  /** Read after an await: close() may have been called meanwhile. */
  const isClosed = (): boolean => closed;
  /** How often a waiting enqueue tries again (the `wait` policy). */
  const ticker = new Ticker(20);
  const budget = new CpuBudget(settings.maxCpuShare, {
    onSpend:
      metrics === undefined
        ? undefined
        : (ms) => {
            metrics.busySeconds.inc(ms / 1000);
          },
  });
  const redactor = settings.redactInProducer
    ? new Redactor({ extra: settings.redactKeys, keep: settings.keepKeys })
    : undefined;

  if (ownsRedis) {
    redis.on('error', (error: Error) => {
      drops.connectionError(error);
    });
  }

  // Enqueues that arrive while the first connection is being made wait for it, up to
  // enqueueTimeoutMs: one listener and one timer for the producer's life, not one per call.
  const firstConnection =
    redis.status === 'ready'
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = setTimeout(settle, settings.enqueueTimeoutMs);
          timer.unref();
          redis.once('ready', settle);
          function settle(): void {
            clearTimeout(timer);
            redis.off('ready', settle);
            resolve();
          }
        });

  // One Queue per producer. BullMQ checks the server once when a Queue starts and keeps a failed
  // start forever, so the Queue is made only while connected and made again if its start failed.
  const ready = (): Promise<Queue> => {
    queue ??= (async () => {
      const created = new Queue<ArchiveJobData>(settings.queueName, {
        connection: redis,
        prefix: settings.redisPrefix,
        streams: { events: { maxLen: 1_000 } },
      });
      created.on('error', (error: Error) => {
        drops.connectionError(error);
      });
      try {
        await created.waitUntilReady();
        return created;
      } catch (error) {
        queue = undefined;
        await created.close().catch(() => undefined);
        throw error;
      }
    })();
    return queue;
  };

  const drop = (reason: DropReason, meta: DebugPayloadMeta, detail?: unknown): EnqueueResult => {
    stats.dropped[reason] += 1;
    drops.record(reason, meta, detail);
    return { status: 'dropped', reason };
  };

  const reserveOptions = (outcome: PayloadOutcome) => ({
    maxQueued: settings.maxQueued,
    maxQueuedBytes: settings.maxQueuedBytes,
    policy: settings.admissionPolicy,
    outcome,
  });

  /**
   * With the `wait` policy, tries a refused reservation again on the shared ticker until
   * admissionWaitMs; `first` is the first attempt's answer, or undefined to make it here.
   */
  const reserve = async (
    payloadId: string,
    bytes: number,
    outcome: PayloadOutcome,
    first?: Reservation,
  ): Promise<Reservation> => {
    const options = reserveOptions(outcome);
    let reservation = first ?? (await ledger.reserve(payloadId, bytes, options));
    const deadline = Date.now() + settings.admissionWaitMs;
    while (!reservation.admitted && settings.admissionPolicy === 'wait' && !closed && Date.now() < deadline) {
      await ticker.next();
      reservation = await ledger.reserve(payloadId, bytes, options);
    }
    return reservation;
  };

  const jobOptions = (payloadId: string): JobsOptions => ({
    jobId: payloadId,
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffDelayMs, jitter: 0.5 },
    removeOnComplete: true,
    removeOnFail: false,
  });

  /**
   * Reserves room and stores the bytes. A whole JSON string (small payloads) is sent with the
   * script that reserves and commits it, and on a single Redis its job's add goes right behind
   * them on the same connection (`added`): one round trip per enqueue instead of two. The add takes effect only
   * when the bytes were stored, by BullMQ's deduplication: when the reservation's script does
   * not store them it sets the job's deduplication key (an add whose key exists is ignored),
   * deleted once the add has answered. Chunks (large payloads) are stored only once reserved,
   * and their job added after.
   */
  const reserveAndStore = async (
    bullQueue: Queue,
    data: ArchiveJobData,
    serialized: Extract<Serialized, { kind: 'whole' | 'chunks' }>,
    outcome: PayloadOutcome,
  ): Promise<{ reservation: Reservation; stored: StoreOutcome | undefined; added: boolean }> => {
    const { bytes } = serialized;
    const { payloadId } = data;
    if (serialized.kind === 'chunks') {
      const reservation = await reserve(payloadId, bytes, outcome);
      if (!reservation.admitted) return { reservation, stored: undefined, added: false };
      return {
        reservation,
        stored: await ledger.storeChunks(payloadId, serialized.chunks, bytes),
        added: false,
      };
    }
    const followUp: FollowUp = {
      skipKey: `${bullQueue.keys.de}:${payloadId}`,
      send: () =>
        new Job(
          bullQueue,
          ARCHIVE_JOB_NAME,
          data,
          { ...jobOptions(payloadId), deduplication: { id: payloadId, ttl: 1 } },
          payloadId,
        ).addJob(bullRedis),
    };
    // Handing a whole JSON string to the socket encodes it, on the task's thread.
    const first = await budget.time(() =>
      ledger.reserveAndStore(payloadId, serialized.json, bytes, reserveOptions(outcome), followUp),
    );
    const added = first.followUp === payloadId;
    if (first.reservation.admitted) return { ...first, added };
    const reservation = await reserve(payloadId, bytes, outcome, first.reservation);
    if (!reservation.admitted) return { reservation, stored: undefined, added: false };
    return {
      reservation,
      stored: await ledger.storePayload(payloadId, serialized.json, bytes),
      added: false,
    };
  };

  /**
   * The ledger has forgotten the evicted payloads already (bounds and bytes); their jobs are
   * removed here while still waiting. One already being archived finishes; one whose removal
   * fails is skipped by the consumer, which finds it marked evicted. A removed job's marker is
   * cleared, since no consumer will come for it.
   */
  const evict = async (
    bullQueue: Queue,
    payloadIds: readonly string[],
    meta: DebugPayloadMeta,
  ): Promise<void> => {
    stats.evicted += payloadIds.length;
    metrics?.evicted.inc(payloadIds.length);
    drops.evicted(payloadIds.length, meta);
    await Promise.all(
      payloadIds.map(async (id) => {
        const removed = await bullQueue.remove(id).catch(() => 0);
        if (removed === 1) await ledger.takeEvicted(id).catch(() => false);
      }),
    );
  };

  const admit = async (
    serialized: Extract<Serialized, { kind: 'whole' | 'chunks' }>,
    meta: DebugPayloadMeta,
    redaction: string | undefined,
  ): Promise<EnqueueResult> => {
    const { bytes } = serialized;
    const enqueuedAt = new Date();
    // The id's timestamp is the enqueue time, so the key's day can be read back from the id.
    const payloadId = newPayloadId(enqueuedAt.getTime());
    const key = buildObjectKey({
      keyPrefix: settings.keyPrefix,
      enqueuedAt,
      integration: meta.integration,
      taskId: meta.taskId,
      payloadId,
    });
    const data: ArchiveJobData = {
      payloadId,
      key,
      taskId: meta.taskId,
      enqueuedAt: enqueuedAt.toISOString(),
      jsonBytes: bytes,
      ...(redaction === undefined ? {} : { redaction }),
      ...(meta.integration === undefined ? {} : { integration: meta.integration }),
      ...(meta.outcome === undefined ? {} : { outcome: meta.outcome }),
    };
    let reserved = false;
    try {
      const bullQueue = await ready();
      // From here a failure releases the reservation, should Redis have made it (idempotent).
      reserved = true;
      const { reservation, stored, added } = await reserveAndStore(
        bullQueue,
        data,
        serialized,
        meta.outcome ?? 'unknown',
      );
      if (!reservation.admitted) {
        return drop(reservation.refusal === 'queue_full' ? 'queue_full' : 'queue_bytes_full', meta);
      }
      const evicting =
        reservation.evicted.length > 0 ? evict(bullQueue, reservation.evicted, meta) : undefined;
      if (stored === 'evicted') {
        // Evicted before its job was added, so no consumer will come for its marker.
        await Promise.all([evicting, ledger.takeEvicted(payloadId).catch(() => false)]);
        return drop('evicted', meta);
      }
      if (stored !== 'stored') {
        await evicting;
        await ledger.release(payloadId).catch(() => false);
        return drop('redis_unavailable', meta, 'the payload bytes did not all reach Redis');
      }
      await Promise.all([
        evicting,
        added ? undefined : bullQueue.add(ARCHIVE_JOB_NAME, data, jobOptions(payloadId)),
      ]);
      stats.queued += 1;
      metrics?.enqueuedBytes.inc(bytes);
      return { status: 'queued', payloadId, key };
    } catch (error) {
      // A reservation whose bytes or job could not be written is released now (with its
      // partial bytes), or by the consumer's reconciler if Redis is gone too.
      if (reserved) await ledger.release(payloadId).catch(() => false);
      return drop('redis_unavailable', meta, error);
    }
  };

  const enqueue = async (payload: unknown, meta: DebugPayloadMeta): Promise<EnqueueResult> => {
    checkMeta(meta);
    if (metrics === undefined) return enqueueChecked(payload, meta);
    const stopTimer = metrics.enqueueDuration.startTimer();
    const result = await enqueueChecked(payload, meta);
    stopTimer({ result: result.status });
    metrics.enqueues.inc({ result: result.status, reason: result.status === 'dropped' ? result.reason : '' });
    return result;
  };

  const enqueueChecked = async (payload: unknown, meta: DebugPayloadMeta): Promise<EnqueueResult> => {
    if (closed) return drop('producer_closed', meta);
    if (
      meta.outcome === 'succeeded' &&
      settings.successSampleRate < 1 &&
      Math.random() >= settings.successSampleRate
    ) {
      return drop('sampled_out', meta);
    }
    const priority = meta.outcome === 'failed';
    if (!budget.allows(priority)) return drop('cpu_budget', meta);
    // What this enqueue holds is counted from its first byte, and given back when it ends.
    let held = 0;
    const take: Take = (bytes) => {
      if (stats.inFlightBytes + bytes > settings.maxInFlightBytes) return false;
      stats.inFlightBytes += bytes;
      held += bytes;
      return true;
    };
    try {
      let serialized: Serialized;
      let redaction: string | undefined;
      if (redactor !== undefined) {
        serialized = budget.time(() => serialize(payload, redactor, settings.maxPayloadBytes));
        // serialize is synchronous, so the summary read now is this payload's.
        redaction = formatRedactionSummary(redactor.summary());
      } else {
        let large: boolean;
        try {
          large = budget.time(() => jsonLengthExceeds(payload, INCREMENTAL_THRESHOLD_CHARS));
        } catch {
          // A getter that throws: JSON.stringify would throw too.
          return drop('not_serializable', meta);
        }
        serialized = large
          ? await serializeLarge(payload, take, priority)
          : budget.time(() => serialize(payload, undefined, settings.maxPayloadBytes));
      }
      if (serialized.kind === 'refused') return drop(serialized.reason, meta);
      if (isClosed()) return drop('producer_closed', meta);
      if (serialized.kind === 'whole' && !take(serialized.bytes)) return drop('producer_busy', meta);
      if (redis.status !== 'ready') await firstConnection;
      if (redis.status !== 'ready')
        return drop('redis_unavailable', meta, `redis connection is ${redis.status}`);
      if (isClosed()) return drop('producer_closed', meta);
      const pending = admit(serialized, meta, redaction);
      inFlight.add(pending);
      try {
        return await pending;
      } finally {
        inFlight.delete(pending);
      }
    } finally {
      stats.inFlightBytes -= held;
    }
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    ticker.stop();
    await Promise.allSettled(inFlight);
    const started = queue;
    queue = undefined;
    if (started) await started.then((q) => q.close()).catch(() => undefined);
    if (ownsRedis) {
      await redis.quit().catch(() => {
        redis.disconnect();
      });
    }
  };

  return {
    enqueue,
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
    close,
  };
}
