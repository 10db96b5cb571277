import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { GetObjectCommand, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { decodeArchive } from './encoding/decode-archive.ts';
import { DebugArchiverError, PayloadNotFoundError } from './errors.ts';
import { fromS3Metadata, type ArchivedPayloadMetadata } from './storage/object-metadata.ts';

export interface PullOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  signal?: AbortSignal;
}

export interface DebugPayloadStream {
  metadata: ArchivedPayloadMetadata;
  /** The payload's JSON bytes; fails with IntegrityError after the last byte if the digest differs. */
  stream: Readable;
}

/**
 * Opens an archived payload as a stream of its JSON, undoing base64 and gzip on the way and
 * verifying the SHA-256 recorded at archive time. Memory stays bounded whatever the size.
 */
export async function openDebugPayloadStream(options: PullOptions): Promise<DebugPayloadStream> {
  const { s3, bucket, key } = options;
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
  return { metadata, stream: decodeArchive(body, key, metadata.jsonSha256) };
}

/** Loads an archived payload whole: parsed JSON and the object's metadata. */
export async function loadDebugPayload(
  options: PullOptions,
): Promise<{ payload: unknown; metadata: ArchivedPayloadMetadata }> {
  const { metadata, stream } = await openDebugPayloadStream(options);
  const json = await text(stream);
  try {
    return { payload: JSON.parse(json) as unknown, metadata };
  } catch (error) {
    throw new DebugArchiverError('ERR_CORRUPT_OBJECT', `payload ${options.key} does not decode to JSON`, {
      cause: error,
    });
  }
}
