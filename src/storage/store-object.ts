import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { OBJECT_CONTENT_TYPE } from './object-metadata.ts';

export interface StoreObjectInput {
  s3: S3Client;
  bucket: string;
  key: string;
  body: AsyncIterable<Buffer>;
  /** Metadata known before the body is read. */
  initialMetadata: Record<string, string>;
  /** Metadata once the body has been read to its end (sizes, digest). */
  finalMetadata: () => Record<string, string>;
  partSizeBytes: number;
  queueSize: number;
  protection: ObjectProtection;
  /**
   * Abort multipart uploads of this key left open by an earlier attempt (a killed consumer
   * cannot abort its own). Set on retries and stall recoveries; costs one listing.
   */
  abortStaleUploads?: boolean;
  signal?: AbortSignal | undefined;
}

/** Aborts the open multipart uploads of exactly `key`; servers without the listing are skipped. */
async function abortStaleUploads(s3: S3Client, bucket: string, key: string, signal: AbortSignal | undefined) {
  let listing;
  try {
    listing = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }), {
      abortSignal: signal,
    });
  } catch (error) {
    if ((error as { name?: string }).name === 'NotImplemented') return;
    throw error;
  }
  for (const upload of listing.Uploads ?? []) {
    if (upload.Key !== key || upload.UploadId === undefined) continue;
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }), {
      abortSignal: signal,
    });
  }
}

/** How objects are kept: encryption at rest, storage class and tags for lifecycle rules. */
export interface ObjectProtection {
  /** `AES256` (SSE-S3), `aws:kms` (SSE-KMS, with kmsKeyId or the account's default key), or `none`. */
  serverSideEncryption: 'AES256' | 'aws:kms' | 'none';
  kmsKeyId?: string | undefined;
  storageClass?: StorageClass | undefined;
  /** Object tags (at most 10), e.g. integration and outcome, for lifecycle rules. */
  tags?: Record<string, string> | undefined;
}

function protectionParams(protection: ObjectProtection) {
  return {
    ...(protection.serverSideEncryption === 'none'
      ? {}
      : { ServerSideEncryption: protection.serverSideEncryption }),
    ...(protection.serverSideEncryption === 'aws:kms' && protection.kmsKeyId !== undefined
      ? { SSEKMSKeyId: protection.kmsKeyId }
      : {}),
    ...(protection.storageClass === undefined ? {} : { StorageClass: protection.storageClass }),
  };
}

function tagging(tags: Record<string, string> | undefined): { Tagging?: string } {
  if (tags === undefined || Object.keys(tags).length === 0) return {};
  return { Tagging: new URLSearchParams(tags).toString() };
}

/**
 * Streams `body` into one object with lib-storage.
 *
 * The first `partSizeBytes` are read before anything is sent, as lib-storage itself would. A
 * body that ends within them (the common case) goes up in a single PUT whose metadata already
 * has the final sizes and digest. A longer body goes up as a multipart upload, and its final
 * metadata is then written by an in-place server-side copy; a failure or abort aborts the
 * multipart upload, so no parts are left behind. Every object is encrypted at rest as
 * `protection` says (SSE-S3 by default) and carries its tags from the first request.
 *
 * Memory: about partSizeBytes x (queueSize + 1).
 */
export async function storeObject(input: StoreObjectInput): Promise<{ multipart: boolean }> {
  const { s3, bucket, key, partSizeBytes, queueSize, signal } = input;
  if (input.abortStaleUploads === true) await abortStaleUploads(s3, bucket, key, signal);
  const iterator = input.body[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < partSizeBytes) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }

  const upload = (body: Buffer | Readable, metadata: Record<string, string>): Promise<unknown> => {
    // Aborted while the body's first part was read: its listener below would never fire.
    signal?.throwIfAborted();
    const abortController = new AbortController();
    const task = new Upload({
      client: s3,
      params: {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: OBJECT_CONTENT_TYPE,
        Metadata: metadata,
        ...protectionParams(input.protection),
        ...tagging(input.protection.tags),
      },
      partSize: partSizeBytes,
      queueSize,
      leavePartsOnError: false,
      abortController,
    });
    const onAbort = (): void => {
      abortController.abort();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return task.done().finally(() => signal?.removeEventListener('abort', onAbort));
  };

  if (ended) {
    await upload(Buffer.concat(head), input.finalMetadata());
    return { multipart: false };
  }

  async function* everything(): AsyncGenerator<Buffer, void, undefined> {
    while (head.length > 0) {
      const chunk = head.shift();
      if (chunk) yield chunk;
    }
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield next.value;
    }
  }
  await upload(Readable.from(everything(), { objectMode: false }), input.initialMetadata);
  await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: key,
      CopySource: `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
      MetadataDirective: 'REPLACE',
      ContentType: OBJECT_CONTENT_TYPE,
      Metadata: input.finalMetadata(),
      // A copy is a new object: encryption and class are set again; tags are copied.
      ...protectionParams(input.protection),
    }),
    { abortSignal: signal },
  );
  return { multipart: true };
}
