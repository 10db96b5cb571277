import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { encodeKeySegment } from '../../src/object-key.ts';
import { loadDebugPayload } from '../../src/pull.ts';
import { getObjectBytes, headObject, sha256, shellDecode } from './s3-objects.ts';

export interface ArchivedIdentity {
  payloadId: string;
  taskId: string;
  integration?: string;
  /** The enqueue happened within [from, to]. */
  enqueuedBetween: { from: number; to: number };
}

/** Values larger than this are compared by their JSON only: a failing deep diff of them is unreadable. */
const DEEP_COMPARE_LIMIT = 8 * 1024 * 1024;

function firstDifference(a: Buffer, b: Buffer): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index += 1) if (a[index] !== b[index]) return index;
  return length;
}

/**
 * Checks one archived object end to end against the JSON of the original value:
 * (a) the real shell `base64 -d | gunzip` gives the JSON byte for byte; (b) loadDebugPayload
 * gives back the same value; (c) the object's metadata describes it exactly, without a
 * Content-Encoding. Returns the object's size and the loaded value.
 */
export async function verifyArchivedObject(
  client: S3Client,
  bucket: string,
  key: string,
  original: unknown,
  identity: ArchivedIdentity,
): Promise<{ base64Bytes: number; loaded: unknown }> {
  const json = JSON.stringify(original);
  const jsonBuffer = Buffer.from(json, 'utf8');
  const raw = await getObjectBytes(client, bucket, key);

  // (a) by hand, with the system's base64 and gunzip
  expect(/^[A-Za-z0-9+/]*={0,2}$/.test(raw.toString('latin1')), 'the object body is plain base64').toBe(true);
  const byShell = await shellDecode(raw);
  if (!byShell.equals(jsonBuffer)) {
    expect.fail(
      `base64 -d | gunzip gave ${byShell.length} bytes, expected ${jsonBuffer.length}; first difference at byte ${firstDifference(byShell, jsonBuffer)}`,
    );
  }

  // (b) through the library
  const loaded = await loadDebugPayload({ s3: client, bucket, key });
  expect(JSON.stringify(loaded.payload) === json, 'loadDebugPayload re-serialises to the same JSON').toBe(
    true,
  );
  // toEqual, not toStrictEqual: the latter compares `.constructor`, which an own "constructor" key replaces.
  if (json.length <= DEEP_COMPARE_LIMIT) expect(loaded.payload).toEqual(JSON.parse(json));
  expect(loaded.metadata.jsonSha256).toBe(sha256(jsonBuffer));

  // (c) metadata
  const head = await headObject(client, bucket, key);
  const metadata = head.Metadata ?? {};
  const gzipBytes = Buffer.from(raw.toString('latin1'), 'base64').length;
  const expected: Record<string, string> = {
    'payload-id': identity.payloadId,
    'task-id': encodeKeySegment(identity.taskId),
    'json-bytes': String(jsonBuffer.length),
    'gzip-bytes': String(gzipBytes),
    'base64-bytes': String(raw.length),
    'json-sha256': sha256(jsonBuffer),
    encoding: 'json,gzip,base64',
  };
  if (identity.integration !== undefined) expected.integration = encodeKeySegment(identity.integration);
  expect(metadata).toMatchObject(expected);
  const enqueuedAt = Date.parse(metadata['enqueued-at'] ?? '');
  expect(enqueuedAt).toBeGreaterThanOrEqual(identity.enqueuedBetween.from - 1);
  expect(enqueuedAt).toBeLessThanOrEqual(identity.enqueuedBetween.to + 1);
  expect(head.ContentEncoding).toBeUndefined();
  expect(head.ContentLength).toBe(raw.length);
  expect(head.ContentLength).toBe(Number(metadata['base64-bytes']));
  return { base64Bytes: raw.length, loaded: loaded.payload };
}
