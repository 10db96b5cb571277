import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { AdmissionLedger, type PayloadOutcome, type Reservation } from '../admission-ledger.ts';
import { Ticker } from './ticker.ts';
import { formatRedactionSummary, Redactor } from '../redaction/redactor.ts';
import { ARCHIVE_JOB_NAME, type ArchiveJobData } from '../archive-job.ts';
import { resolveProducerSettings, type ProducerSettings } from '../config.ts';
import { InvalidMetaError } from '../errors.ts';
import { createDefaultLogger, type Logger } from '../logger.ts';
import { producerMetrics } from '../metrics/definitions.ts';
import { buildObjectKey } from '../object-key.ts';
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
  /** JSON bytes this process is sending to Redis right now. */
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

function serialize(payload: unknown, redactor: Redactor | undefined): string | undefined {
  try {
    const json: unknown =
      redactor === undefined ? JSON.stringify(payload) : JSON.stringify(payload, redactor.replacer());
    return typeof json === 'string' ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates a producer: one Redis connection and one BullMQ Queue for the life of the process,
 * whatever the number of calls.
 *
 * Memory: a payload's JSON string lives only while its enqueue is under way, and this process
 * never holds more than `maxInFlightBytes` of them at once; Redis holds at most
 * `maxQueuedBytes` across all producers.
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
  const drops = new DropLog(logger);
  const stats: ProducerStats = {
    queued: 0,
    evicted: 0,
    dropped: Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>,
    inFlightBytes: 0,
  };
  const inFlight = new Set<Promise<EnqueueResult>>();
  let queue: Promise<Queue> | undefined;
  let closed = false;
  /** How often a waiting enqueue tries again (the `wait` policy). */
  const ticker = new Ticker(20);
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

  /** Reserves room; with the `wait` policy, tries again on the shared ticker until admissionWaitMs. */
  const reserve = async (payloadId: string, bytes: number, outcome: PayloadOutcome): Promise<Reservation> => {
    const options = { ...settings, policy: settings.admissionPolicy, outcome };
    let reservation = await ledger.reserve(payloadId, bytes, options);
    const deadline = Date.now() + settings.admissionWaitMs;
    while (!reservation.admitted && settings.admissionPolicy === 'wait' && !closed && Date.now() < deadline) {
      await ticker.next();
      reservation = await ledger.reserve(payloadId, bytes, options);
    }
    return reservation;
  };

  /**
   * The ledger has forgotten the evicted payloads already (bounds and bytes); their jobs are
   * removed here while still waiting. One already being archived finishes; one whose removal
   * fails is skipped by the consumer, which finds it marked evicted.
   */
  const evict = async (
    bullQueue: Queue,
    payloadIds: readonly string[],
    meta: DebugPayloadMeta,
  ): Promise<void> => {
    stats.evicted += payloadIds.length;
    metrics?.evicted.inc(payloadIds.length);
    drops.evicted(payloadIds.length, meta);
    await Promise.all(payloadIds.map((id) => bullQueue.remove(id).catch(() => 0)));
  };

  const admit = async (
    json: string,
    bytes: number,
    meta: DebugPayloadMeta,
    redaction: string | undefined,
  ): Promise<EnqueueResult> => {
    const enqueuedAt = new Date();
    // The id's timestamp is the enqueue time, so the key's day can be read back from the id.
    const payloadId = uuidv7({ msecs: enqueuedAt.getTime() });
    const key = buildObjectKey({
      keyPrefix: settings.keyPrefix,
      enqueuedAt,
      integration: meta.integration,
      taskId: meta.taskId,
      payloadId,
    });
    let reserved = false;
    try {
      const bullQueue = await ready();
      const reservation = await reserve(payloadId, bytes, meta.outcome ?? 'unknown');
      if (!reservation.admitted) {
        return drop(reservation.refusal === 'queue_full' ? 'queue_full' : 'queue_bytes_full', meta);
      }
      reserved = true;
      if (reservation.evicted.length > 0) await evict(bullQueue, reservation.evicted, meta);
      if (!(await ledger.storePayload(payloadId, json))) return drop('evicted', meta);
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
      await bullQueue.add(ARCHIVE_JOB_NAME, data, {
        jobId: payloadId,
        attempts: settings.attempts,
        backoff: { type: 'exponential', delay: settings.backoffDelayMs, jitter: 0.5 },
        removeOnComplete: true,
        removeOnFail: false,
      });
      stats.queued += 1;
      metrics?.enqueuedBytes.inc(bytes);
      return { status: 'queued', payloadId, key };
    } catch (error) {
      // A reservation whose job could not be added is released now, or by the consumer's
      // reconciler if Redis is gone too.
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
    const json = serialize(payload, redactor);
    // serialize is synchronous, so the summary read now is this payload's.
    const redaction = redactor === undefined ? undefined : formatRedactionSummary(redactor.summary());
    if (json === undefined) return drop('not_serializable', meta);
    // UTF-8 never takes fewer bytes than UTF-16 code units, so a long string fails without a scan.
    if (json.length > settings.maxPayloadBytes) return drop('payload_too_large', meta);
    const bytes = Buffer.byteLength(json);
    if (bytes > settings.maxPayloadBytes) return drop('payload_too_large', meta);
    if (stats.inFlightBytes + bytes > settings.maxInFlightBytes) return drop('producer_busy', meta);
    if (redis.status !== 'ready') await firstConnection;
    if (redis.status !== 'ready')
      return drop('redis_unavailable', meta, `redis connection is ${redis.status}`);
    stats.inFlightBytes += bytes;
    const pending = admit(json, bytes, meta, redaction);
    inFlight.add(pending);
    try {
      return await pending;
    } finally {
      inFlight.delete(pending);
      stats.inFlightBytes -= bytes;
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
