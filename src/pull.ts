import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, type S3Client } from '@aws-sdk/client-s3';
import { defaults } from './config.ts';
import { decodeArchive } from './encoding/decode-archive.ts';
import { DebugArchiverError, PayloadNotFoundError } from './errors.ts';
import { listDebugPayloads } from './list-payloads.ts';
import { fromS3Metadata, type ArchivedPayloadMetadata } from './storage/object-metadata.ts';

/** Which payload: an object key, or the newest payload of a task. */
export type PayloadRef = { key: string } | { taskId: string; keyPrefix?: string };

/**
 * What a replay handler module exports by default: called once with the payload and its
 * metadata; a rejection fails the replay (exit code 1).
 */
export type ReplayHandler = (
  payload: unknown,
  context: { key: string; metadata: ArchivedPayloadMetadata },
) => unknown;

export interface PullOptions {
  s3: S3Client;
  bucket: string;
  signal?: AbortSignal;
  /** Called as stored (base64) bytes arrive, with the object's total size. */
  onProgress?: (storedBytesRead: number, storedBytesTotal: number | undefined) => void;
}

export interface DebugPayloadStream {
  key: string;
  metadata: ArchivedPayloadMetadata;
  /** Size of the stored object (the base64 text). */
  storedBytes: number | undefined;
  /** The payload's JSON bytes; fails with IntegrityError after the last byte if the digest differs. */
  stream: Readable;
}

/** The object key a reference names: the key itself, or the newest payload of the task. */
export async function resolvePayloadKey(
  ref: PayloadRef,
  options: Pick<PullOptions, 's3' | 'bucket' | 'signal'>,
): Promise<string> {
  if ('key' in ref) return ref.key;
  const [newest] = await listDebugPayloads({
    s3: options.s3,
    bucket: options.bucket,
    keyPrefix: ref.keyPrefix ?? defaults.keyPrefix,
    taskId: ref.taskId,
    limit: 1,
    signal: options.signal,
  });
  if (!newest) throw new PayloadNotFoundError(`no archived payload for task ${JSON.stringify(ref.taskId)}`);
  return newest.key;
}

async function* counted(
  body: AsyncIterable<Buffer>,
  total: number | undefined,
  onProgress: PullOptions['onProgress'],
): AsyncGenerator<Buffer, void, undefined> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    onProgress?.(read, total);
    yield chunk;
  }
}

/**
 * Opens an archived payload as a stream of its JSON, undoing base64 and gzip on the way and
 * verifying the SHA-256 recorded at archive time. Memory stays bounded whatever the size.
 */
export async function openDebugPayloadStream(options: PullOptions & PayloadRef): Promise<DebugPayloadStream> {
  const { s3, bucket } = options;
  const key = await resolvePayloadKey(options, options);
  let response;
  try {
    response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: options.signal,
    });
  } catch (error) {
    if (error instanceof NoSuchKey)
      throw new PayloadNotFoundError(`no archived payload at s3://${bucket}/${key}`);
    throw error;
  }
  const metadata = fromS3Metadata(response.Metadata);
  const body = response.Body as AsyncIterable<Buffer> | undefined;
  if (!body) throw new PayloadNotFoundError(`s3://${bucket}/${key} has no body`);
  const storedBytes = response.ContentLength;
  const source = options.onProgress ? counted(body, storedBytes, options.onProgress) : body;
  return { key, metadata, storedBytes, stream: decodeArchive(source, key, metadata.jsonSha256) };
}

/** Loads an archived payload whole: parsed JSON and the object's metadata. */
export async function loadDebugPayload(
  options: PullOptions & PayloadRef,
): Promise<{ key: string; payload: unknown; metadata: ArchivedPayloadMetadata }> {
  const { key, metadata, stream } = await openDebugPayloadStream(options);
  const json = await text(stream);
  try {
    return { key, payload: JSON.parse(json) as unknown, metadata };
  } catch (error) {
    throw new DebugArchiverError('ERR_CORRUPT_OBJECT', `payload ${key} does not decode to JSON`, {
      cause: error,
    });
  }
}

/** An archived payload's metadata and stored size, without downloading it. */
export async function describeDebugPayload(
  options: Pick<PullOptions, 's3' | 'bucket' | 'signal'> & PayloadRef,
): Promise<{
  key: string;
  metadata: ArchivedPayloadMetadata;
  storedBytes: number | undefined;
  lastModified: Date | undefined;
}> {
  const key = await resolvePayloadKey(options, options);
  try {
    const head = await options.s3.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }), {
      abortSignal: options.signal,
    });
    return {
      key,
      metadata: fromS3Metadata(head.Metadata),
      storedBytes: head.ContentLength,
      lastModified: head.LastModified,
    };
  } catch (error) {
    if (error instanceof NotFound || error instanceof NoSuchKey) {
      throw new PayloadNotFoundError(`no archived payload at s3://${options.bucket}/${key}`);
    }
    throw error;
  }
}
