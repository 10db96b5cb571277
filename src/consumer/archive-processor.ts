import { HeadObjectCommand, NotFound, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { UnrecoverableError, type Job } from 'bullmq';
import type { AdmissionLedger } from '../admission-ledger.ts';
import type { ArchiveJobData, ArchiveJobResult } from '../archive-job.ts';
import { encodeJson, encodePayload } from '../encoding/encode-payload.ts';
import type { LayerStats } from '../encoding/layers.ts';
import type { Logger } from '../logger.ts';
import { taskIndexKey } from '../object-key.ts';
import { toS3Metadata } from '../storage/object-metadata.ts';
import { abortingS3Requests } from '../storage/request-abort.ts';
import { storeObject, type ObjectProtection } from '../storage/store-object.ts';
import { isMalformedJson, redactStoredJson } from '../redaction/redact-stored-json.ts';
import { InvalidJsonError, type RedactionPool } from '../redaction/redaction-pool.ts';
import { formatRedactionSummary, type Redactor } from '../redaction/redactor.ts';
import type { RedisClient } from '../redis-client.ts';
import { untilAborted } from '../until-aborted.ts';
import type { ByteBudget } from './byte-budget.ts';
import { stepCache } from './step-cache.ts';
import {
  openStoredJson,
  readStoredJson,
  STORED_JSON_STEP_BYTES,
  storedJsonSource,
  storedJsonSteps,
  StoredJsonChangedError,
} from './stored-json.ts';

export interface ArchiveProcessorDeps {
  s3: S3Client;
  bucket: string;
  ledger: AdmissionLedger;
  /** The ledger's connection, for reading stored JSON in steps. */
  redis: RedisClient;
  logger: Logger;
  gzipLevel: number;
  gzipParallelism: number;
  partSizeBytes: number;
  uploadQueueSize: number;
  /** Redacts secrets before anything is stringified for S3; undefined turns redaction off. */
  redactor: Redactor | undefined;
  /**
   * Threads that redact the payloads held whole, with the redactor's rules; undefined redacts
   * every payload on the event loop (a redactor with a custom function cannot be sent to a
   * thread).
   */
  redactionPool?: RedactionPool | undefined;
  /** JSON bytes held whole for the redaction threads at once, across this consumer's archives. */
  redactingBudget: ByteBudget;
  /** Encryption at rest and storage class of every object. */
  protection: Omit<ObjectProtection, 'tags'>;
}

/** S3 tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
function tagValue(text: string): string {
  return text.replaceAll(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_').slice(0, 256);
}

/** Tags lifecycle rules can select on: expire successes sooner than failures, per integration. */
function lifecycleTags(data: ArchiveJobData): Record<string, string> {
  return { integration: tagValue(data.integration ?? '_'), outcome: data.outcome ?? 'unknown' };
}

function checkJobData(data: unknown): ArchiveJobData {
  const candidate = data as Partial<ArchiveJobData> | null;
  if (
    typeof candidate?.payloadId !== 'string' ||
    typeof candidate.key !== 'string' ||
    typeof candidate.taskId !== 'string' ||
    typeof candidate.enqueuedAt !== 'string' ||
    typeof candidate.jsonBytes !== 'number'
  ) {
    throw new UnrecoverableError(
      'archive job data is not an ArchiveJobData (payloadId, key, taskId, enqueuedAt, jsonBytes)',
    );
  }
  return candidate as ArchiveJobData;
}

async function objectExists(
  s3: S3Client,
  bucket: string,
  key: string,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return true;
  } catch (error) {
    if (error instanceof NotFound) return false;
    throw error;
  }
}

/**
 * The empty object that lists the payload under its task; written after the payload itself.
 * Sent without per-request options, which would bypass the client's cached middleware: a
 * createS3Client client aborts it with the job (abortingS3Requests); with another, an abort ends
 * the wait at once and the request ends within that client's timeouts.
 */
async function writeTaskIndex(s3: S3Client, bucket: string, key: string, signal: AbortSignal): Promise<void> {
  await untilAborted(
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: taskIndexKey(key), Body: '', ContentLength: 0 })),
    signal,
  );
}

/** The stored bytes are not JSON: no attempt can archive them, so the job fails for good. */
function notJson(data: ArchiveJobData, error: unknown): UnrecoverableError {
  return new UnrecoverableError(`payload ${data.payloadId} in Redis is not JSON: ${String(error)}`);
}

/**
 * Redacted JSON that fails the job for good when the stored bytes turn out not to be JSON,
 * found on the event loop (redactStoredJson) or on a redaction thread (InvalidJsonError).
 */
async function* refusingNotJson(
  data: ArchiveJobData,
  chunks: AsyncIterable<Buffer>,
): AsyncGenerator<Buffer, void, undefined> {
  try {
    yield* chunks;
  } catch (error) {
    if (isMalformedJson(error) || error instanceof InvalidJsonError) throw notJson(data, error);
    throw error;
  }
}

type Sink = (body: AsyncIterable<Buffer>, stats: () => LayerStats) => Promise<LayerStats>;
/**
 * Payloads of up to this much JSON that need redaction here are parsed, redacted and
 * stringified again whole on the event loop: their string, parsed values and new string each
 * fit in V8's young generation (objects of up to 128 KiB), where parsing beat any other way
 * (0.33 ms at 125 KB, against 1.0 ms redacted by suspects). One object larger than that is
 * given fresh pages of its own, whose faults cost 4x here (1.32 ms at 130 KB), and a thread's
 * round trip would cost more than the work.
 */
export const PARSED_REDACTION_MAX_BYTES = 120 * 1024;
/**
 * Payloads of up to this much JSON that need redaction here go whole to a redaction thread,
 * step by step as they are read, and are redacted there; larger ones, or all when there are no
 * threads, are read in steps and redacted on the event loop (redactStoredJson both). Memory:
 * the JSON's bytes, which the consumer's `maxRedactingBytes` bounds across archives.
 */
export const WHOLE_REDACTION_MAX_BYTES = 16 * 1024 * 1024;

/** Streams one payload's layers into a sink: encodeJson or encodePayload, bound to its input. */
type Encode = (sink: Sink) => Promise<LayerStats>;

/**
 * The BullMQ processor: reads the payload's JSON from the ledger, streams it to S3, writes its
 * task index entry, and only then releases it from the ledger. Throwing leaves the payload in
 * Redis for the next attempt; after the last one the job stays in BullMQ's failed set and the
 * payload stays counted.
 *
 * A payload that needs no redaction here (redaction off, or done by the producer) is streamed
 * from Redis as stored, in 1 MiB steps, straight into gzip: no parse, no second stringify, and
 * memory that does not grow with the payload. One that needs redaction is redacted by
 * redactStoredJson: bytes in which the redactor's suspect search finds nothing pass through as
 * stored, and the values around what it finds (up to 4 KiB of JSON each) are parsed and
 * redacted. One of up to WHOLE_REDACTION_MAX_BYTES goes whole to a redaction thread when there
 * is a pool, each 1 MiB step moved there as it is read, and is redacted so there (those
 * archives hold at most `redactingBudget` JSON bytes at once); a larger one, or any without a
 * pool, is read in 1 MiB steps (the last three kept, for the suspect search and the walk to
 * share) and redacted on the event loop on its way to gzip, its memory not growing with it but
 * for any single string (or header list) larger than 4 KiB with something to redact. A small one
 * (PARSED_REDACTION_MAX_BYTES) is parsed, redacted and stringified again whole on the event
 * loop instead, which is faster at that size.
 */
export function createArchiveProcessor(deps: ArchiveProcessorDeps) {
  const { s3, bucket, ledger, logger } = deps;
  /** The stored length is about the archived JSON's: redaction changes a few values. */
  const encodeOptions = (data: ArchiveJobData, signal: AbortSignal) => ({
    gzipLevel: deps.gzipLevel,
    gzipParallelism: deps.gzipParallelism,
    jsonLength: data.jsonBytes,
    signal,
  });

  /**
   * The payload's bytes are gone from Redis: evicted to make room (its job could not be removed
   * while it waited), or released already (an earlier attempt uploaded and released but died
   * before completing the job, or the producer gave up on the job after Redis timed out).
   */
  const gone = async (data: ArchiveJobData, signal: AbortSignal): Promise<ArchiveJobResult> => {
    if (await ledger.takeEvicted(data.payloadId)) {
      return { key: data.key, jsonBytes: 0, gzipBytes: 0, base64Bytes: 0, evicted: true };
    }
    const archived = await objectExists(s3, bucket, data.key, signal);
    if (archived) await writeTaskIndex(s3, bucket, data.key, signal);
    else logger.warn({ key: data.key }, 'payload bytes are gone from Redis and were never archived');
    return { key: data.key, jsonBytes: 0, gzipBytes: 0, base64Bytes: 0, alreadyArchived: archived };
  };

  /** Streams the stored JSON as it is, when no redaction is left to do here. */
  const encodeStored = async (data: ArchiveJobData, signal: AbortSignal): Promise<Encode | null> => {
    const stored = await openStoredJson(deps.redis, ledger.payloadKey(data.payloadId), {
      expectedBytes: data.jsonBytes,
    });
    if (stored === null) return null;
    return (sink) => encodeJson(stored.chunks, sink, encodeOptions(data, signal));
  };

  /** Parses, redacts and stringifies a small payload's JSON again, on the event loop. */
  const encodeRedactedWhole = async (
    data: ArchiveJobData,
    redactor: Redactor,
    signal: AbortSignal,
  ): Promise<{ encode: Encode; redaction: string } | null> => {
    const json = await readStoredJson(deps.redis, ledger.payloadKey(data.payloadId), {
      expectedBytes: data.jsonBytes,
    });
    if (json === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw notJson(data, error);
    }
    const redacted = redactor.redactInPlace(value);
    return {
      encode: (sink) => encodePayload(redacted.value, sink, encodeOptions(data, signal)),
      redaction: formatRedactionSummary(redacted.summary),
    };
  };

  /**
   * Redacts the stored JSON on a redaction thread, which starts on the first step read from
   * Redis: the event loop only moves the bytes.
   */
  const encodeRedactedOnThread = async (
    data: ArchiveJobData,
    pool: RedactionPool,
    signal: AbortSignal,
  ): Promise<{ encode: Encode; redaction: () => string } | null> => {
    const source = await storedJsonSource(deps.redis, ledger.payloadKey(data.payloadId), {
      expectedBytes: data.jsonBytes,
    });
    if (source === null) return null;
    const redacted = pool.redactSteps(source.length, STORED_JSON_STEP_BYTES, storedJsonSteps(source));
    return {
      encode: async (sink) => {
        try {
          return await encodeJson(refusingNotJson(data, redacted.chunks), sink, encodeOptions(data, signal));
        } finally {
          redacted.cancel();
        }
      },
      redaction: () => formatRedactionSummary(redacted.summary()),
    };
  };

  /** Redacts the stored JSON piece by piece on its way to gzip; its summary is known at the end. */
  const encodeRedactedInPieces = async (
    data: ArchiveJobData,
    redactor: Redactor,
    signal: AbortSignal,
  ): Promise<{ encode: Encode; redaction: () => string } | null> => {
    const stored = await storedJsonSource(deps.redis, ledger.payloadKey(data.payloadId));
    if (stored === null) return null;
    // The suspect search reads a little ahead of the walk: both read each step from Redis once.
    const source = stepCache(stored, STORED_JSON_STEP_BYTES);
    const pieces = redactor.pieces();
    return {
      encode: (sink) =>
        encodeJson(
          refusingNotJson(data, redactStoredJson(source, pieces)),
          sink,
          encodeOptions(data, signal),
        ),
      redaction: () => formatRedactionSummary(pieces.summary()),
    };
  };

  const archive = async (
    job: Job,
    data: ArchiveJobData,
    encode: Encode | null,
    /** What redaction did: known before the upload, or once the body is read to its end. */
    redaction: string | (() => string),
    signal: AbortSignal,
  ): Promise<ArchiveJobResult> => {
    if (encode === null) return gone(data, signal);
    const identity = {
      payloadId: data.payloadId,
      taskId: data.taskId,
      integration: data.integration,
      enqueuedAt: data.enqueuedAt,
    };
    const known = typeof redaction === 'string' ? redaction : undefined;
    const atEnd = typeof redaction === 'string' ? () => redaction : redaction;
    const stats = await encode(async (body, layerStats) => {
      await storeObject({
        s3,
        bucket,
        key: data.key,
        body,
        initialMetadata: toS3Metadata({ ...identity, redaction: known }),
        finalMetadata: () => toS3Metadata({ ...identity, redaction: atEnd(), ...layerStats() }),
        partSizeBytes: deps.partSizeBytes,
        queueSize: deps.uploadQueueSize,
        protection: { ...deps.protection, tags: lifecycleTags(data) },
        abortStaleUploads: job.attemptsMade > 0 || job.stalledCounter > 0,
        signal,
      });
      return layerStats();
    });
    await writeTaskIndex(s3, bucket, data.key, signal);
    await ledger.release(data.payloadId);
    return {
      key: data.key,
      jsonBytes: stats.jsonBytes,
      gzipBytes: stats.gzipBytes,
      base64Bytes: stats.base64Bytes,
    };
  };

  const archiveJob = async (
    job: Job,
    data: ArchiveJobData,
    signal: AbortSignal,
  ): Promise<ArchiveJobResult> => {
    if (deps.redactor === undefined || data.redaction !== undefined) {
      return archive(job, data, await encodeStored(data, signal), data.redaction ?? 'off', signal);
    }
    if (data.jsonBytes <= PARSED_REDACTION_MAX_BYTES) {
      const redacted = await encodeRedactedWhole(data, deps.redactor, signal);
      return archive(job, data, redacted?.encode ?? null, redacted?.redaction ?? 'off', signal);
    }
    const pool = deps.redactionPool;
    if (pool === undefined || data.jsonBytes > WHOLE_REDACTION_MAX_BYTES) {
      const redacted = await encodeRedactedInPieces(data, deps.redactor, signal);
      return archive(job, data, redacted?.encode ?? null, redacted?.redaction ?? 'off', signal);
    }
    const release = await deps.redactingBudget.acquire(data.jsonBytes, signal);
    try {
      const redacted = await encodeRedactedOnThread(data, pool, signal);
      return await archive(job, data, redacted?.encode ?? null, redacted?.redaction ?? 'off', signal);
    } finally {
      release();
    }
  };

  return async (job: Job, signal: AbortSignal): Promise<ArchiveJobResult> => {
    const data = checkJobData(job.data);
    try {
      return await abortingS3Requests(signal, () => archiveJob(job, data, signal));
    } catch (error) {
      // Another attempt (a stalled job's, a duplicate's) archived and released the payload, or
      // it was evicted, while this one read it: nothing was stored here, and nothing is lost.
      if (changedWhileRead(error)) return gone(data, signal);
      throw error;
    }
  };
}

/** Whether the error, or one it was wrapped in on its way out of an upload, is a read that came back short. */
function changedWhileRead(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof StoredJsonChangedError) return true;
  }
  return false;
}
