import { ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { OBJECT_SUFFIX } from '../../src/object-key.ts';

/**
 * Every object in the bucket with its size, for buckets of any size. Pages with ListObjects (v1)
 * and the last key as marker: s3rver makes ListObjectsV2 continuation tokens with DES, which the
 * OpenSSL 3 of Node >= 17 refuses, so on s3rver a V2 listing past 1000 keys fails (InternalError).
 */
export async function listAllObjects(
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
 * The archived payloads' keys (sorted), like listPayloadKeys in s3-objects.ts but for large
 * buckets; fails if the bucket holds another object with content (only empty index entries may be).
 */
export async function listAllPayloadKeys(client: S3Client, bucket: string): Promise<string[]> {
  const objects = await listAllObjects(client, bucket);
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
