import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  dayPrefix,
  objectKeyOfTaskIndex,
  OBJECT_SUFFIX,
  parseObjectKey,
  payloadIdTime,
  taskIndexPrefix,
} from './object-key.ts';

export interface ListPayloadsOptions {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  /** Only this task's payloads: one prefix listing of the task index. */
  taskId?: string | undefined;
  /** Only this integration's payloads. */
  integration?: string | undefined;
  /** Enqueued at or after. Without a task id, default: 24 hours before `until`. */
  since?: Date | undefined;
  /** Enqueued before. Default: now. */
  until?: Date | undefined;
  /** At most this many, newest first. Default 100. */
  limit?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface ListedPayload {
  key: string;
  payloadId: string;
  taskId: string;
  integration: string | undefined;
  enqueuedAt: Date;
  /** Stored (base64) bytes; undefined for entries found through the task index. */
  storedBytes: number | undefined;
}

const DAY_MS = 86_400_000;

async function* listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<{ key: string; size: number | undefined }, void, undefined> {
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      { abortSignal: signal },
    );
    for (const object of page.Contents ?? []) {
      if (object.Key !== undefined) yield { key: object.Key, size: object.Size };
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
}

function describe(key: string, storedBytes: number | undefined): ListedPayload {
  const parsed = parseObjectKey(key);
  return {
    key,
    payloadId: parsed.payloadId,
    taskId: parsed.taskId,
    integration: parsed.integration,
    enqueuedAt: payloadIdTime(parsed.payloadId),
    storedBytes,
  };
}

/**
 * Lists archived payloads, newest first. With a task id it lists that task's index prefix;
 * otherwise one prefix per UTC day in the window (per day and integration when one is given),
 * newest day first, stopping once `limit` payloads are found. Never scans the whole bucket.
 */
export async function listDebugPayloads(options: ListPayloadsOptions): Promise<ListedPayload[]> {
  const { s3, bucket, keyPrefix, signal } = options;
  const limit = options.limit ?? 100;
  const until = options.until ?? new Date();
  const inWindow = (payload: ListedPayload): boolean =>
    payload.enqueuedAt < until &&
    (options.since === undefined || payload.enqueuedAt >= options.since) &&
    (options.integration === undefined || payload.integration === options.integration);
  const newestFirst = (a: ListedPayload, b: ListedPayload): number => b.payloadId.localeCompare(a.payloadId);

  if (options.taskId !== undefined) {
    const found: ListedPayload[] = [];
    for await (const entry of listKeys(s3, bucket, taskIndexPrefix(keyPrefix, options.taskId), signal)) {
      const payload = describe(objectKeyOfTaskIndex(entry.key), undefined);
      if (inWindow(payload)) found.push(payload);
    }
    return found.sort(newestFirst).slice(0, limit);
  }

  const since = options.since ?? new Date(until.getTime() - DAY_MS);
  const found: ListedPayload[] = [];
  const firstDay = Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate());
  const lastDay = Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate());
  for (let day = lastDay; day >= firstDay; day -= DAY_MS) {
    const prefix = dayPrefix(keyPrefix, new Date(day).toISOString().slice(0, 10), options.integration);
    const ofDay: ListedPayload[] = [];
    for await (const entry of listKeys(s3, bucket, prefix, signal)) {
      if (!entry.key.endsWith(OBJECT_SUFFIX)) continue;
      const payload = describe(entry.key, entry.size);
      if (inWindow(payload) && payload.enqueuedAt >= since) ofDay.push(payload);
    }
    found.push(...ofDay.sort(newestFirst));
    if (found.length >= limit) break;
  }
  return found.slice(0, limit);
}
