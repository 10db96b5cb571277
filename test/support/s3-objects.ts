import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  type HeadObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';

import { OBJECT_SUFFIX } from '../../src/object-key.ts';

const execFileAsync = promisify(execFile);

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Every object in the bucket with its size, for buckets of any size. Pages with ListObjects (v1)
 * and the last key as marker: s3rver makes ListObjectsV2 continuation tokens with DES, which the
 * OpenSSL 3 of Node >= 17 refuses, so on s3rver a V2 listing past 1000 keys fails (InternalError).
 */
export async function listObjects(
  client: S3Client,
  bucket: string,
): Promise<{ key: string; size: number }[]> {
  const objects: { key: string; size: number }[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await client.send(new ListObjectsCommand({ Bucket: bucket, Marker: marker, MaxKeys: 1000 }));
    for (const object of page.Contents ?? [])
      if (object.Key !== undefined) objects.push({ key: object.Key, size: object.Size ?? 0 });
    const last = objects.at(-1)?.key;
    if (page.IsTruncated !== true || last === undefined || last === marker) return objects;
    marker = last;
  }
}

/**
 * The keys of the archived payloads in the bucket (sorted). Fails if the bucket holds any other
 * object with content: auxiliary objects (a task index, say) may exist, but only empty ones,
 * so no payload is ever stored twice under another name.
 */
export async function listPayloadKeys(client: S3Client, bucket: string): Promise<string[]> {
  const objects = await listObjects(client, bucket);
  const others = objects.filter((object) => !object.key.endsWith(OBJECT_SUFFIX) && object.size > 0);
  if (others.length > 0) {
    throw new Error(
      `bucket ${bucket} holds objects that are not payloads: ${JSON.stringify(others.slice(0, 5))}`,
    );
  }
  return objects
    .filter((object) => object.key.endsWith(OBJECT_SUFFIX))
    .map((object) => object.key)
    .sort();
}

/** The object's stored bytes, untouched. */
export async function getObjectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (response.Body === undefined) throw new Error(`s3://${bucket}/${key} has no body`);
  return Buffer.from(await response.Body.transformToByteArray());
}

export function headObject(client: S3Client, bucket: string, key: string): Promise<HeadObjectCommandOutput> {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

/** Whether the object exists (a 404 is false; other errors propagate). */
export async function objectExists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await headObject(client, bucket, key);
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
      return false;
    throw error;
  }
}

/**
 * Decodes an object the way an operator would by hand: writes it to a file and runs the real
 * shell pipeline `base64 -d FILE | gunzip`. Returns what gunzip printed.
 */
export async function shellDecode(objectBytes: Buffer): Promise<Buffer> {
  const directory = await mkdtemp(join(tmpdir(), 'debug-archiver-shell-'));
  try {
    const file = join(directory, 'object.json.gz.b64');
    await writeFile(file, objectBytes);
    const { stdout } = await execFileAsync(
      'bash',
      ['-c', 'set -o pipefail; base64 -d "$1" | gunzip', 'bash', file],
      {
        encoding: 'buffer',
        maxBuffer: 512 * 1024 * 1024,
      },
    );
    return stdout;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
