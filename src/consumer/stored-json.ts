import type { RedisClient } from '../redis-client.ts';
import { bufferSource, type ByteSource } from '../encoding/json-scanner.ts';

/**
 * Bytes read per GETRANGE: one read in flight ahead of the one being compressed, each a small
 * share of Redis's time, so other clients are not held up by one large payload.
 */
export const STORED_JSON_STEP_BYTES = 1024 * 1024;

export interface StoredJsonOptions {
  /** Bytes per GETRANGE; default STORED_JSON_STEP_BYTES. */
  stepBytes?: number;
  /**
   * The length the payload's job gives (its `jsonBytes`, which the ledger's commit checked):
   * a payload of at most one step is then read in one GETRANGE, with no STRLEN before it.
   */
  expectedBytes?: number;
}

/**
 * The stored JSON of a payload, read in STORED_JSON_STEP_BYTES steps (GETRANGE) with the next
 * step read while the last is processed, or null when the key does not exist. A payload that
 * shrinks or disappears while it is read (evicted, released by another attempt) fails the read
 * rather than archiving a truncated document.
 *
 * Memory: two steps, whatever the payload's size.
 */
export async function openStoredJson(
  redis: RedisClient,
  key: string,
  options: StoredJsonOptions = {},
): Promise<{ bytes: number; chunks: AsyncGenerator<Buffer, void, undefined> } | null> {
  const { stepBytes = STORED_JSON_STEP_BYTES } = options;
  const source = await storedJsonSource(redis, key, options);
  if (source === null) return null;
  const bytes = source.length;
  const read = (offset: number): Promise<Buffer> => {
    const reading = source.read(offset, Math.min(bytes, offset + stepBytes));
    // Awaited in turn below; if the reader stops early, a late failure has no one to tell.
    reading.catch(() => undefined);
    return reading;
  };
  async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
    let offset = 0;
    let reading = read(0);
    while (offset < bytes) {
      const chunk = await reading;
      offset += chunk.length;
      if (offset < bytes) reading = read(offset);
      yield chunk;
    }
  }
  return { bytes, chunks: chunks() };
}

/**
 * The stored JSON in STORED_JSON_STEP_BYTES steps (GETRANGE), every step requested at once
 * (pipelined on the connection) and yielded in order as it comes: for a reader that wants the
 * whole payload as soon as it can get it (a redaction thread, which starts on the first step).
 * Memory: the steps not yet taken, up to the whole payload.
 */
export async function* storedJsonSteps(
  source: ByteSource,
  stepBytes = STORED_JSON_STEP_BYTES,
): AsyncGenerator<Buffer, void, undefined> {
  const steps: Promise<Buffer>[] = [];
  for (let offset = 0; offset < source.length; offset += stepBytes) {
    const reading = source.read(offset, Math.min(source.length, offset + stepBytes));
    // Awaited in turn below; if the reader stops early, a late failure has no one to tell.
    reading.catch(() => undefined);
    steps.push(reading);
  }
  for (const step of steps) yield await step;
}

/**
 * A payload's stored JSON as one string, or null when the key does not exist: read in steps
 * (storedJsonSteps) and decoded once. For payloads that are parsed whole (at most
 * PARSED_REDACTION_MAX_BYTES): memory is the JSON's bytes and its string.
 */
export async function readStoredJson(
  redis: RedisClient,
  key: string,
  options: StoredJsonOptions = {},
): Promise<string | null> {
  const source = await storedJsonSource(redis, key, options);
  if (source === null) return null;
  const steps: Buffer[] = [];
  for await (const step of storedJsonSteps(source, options.stepBytes)) steps.push(step);
  return (steps.length === 1 ? (steps[0] as Buffer) : Buffer.concat(steps)).toString('utf8');
}

/**
 * A payload's stored bytes went (or shrank) while they were read: released by another attempt
 * that archived it, or evicted. Never worth retrying: what is left to do is what a payload
 * found gone at the start gets.
 */
export class StoredJsonChangedError extends Error {
  override readonly name = 'StoredJsonChangedError';
}

/**
 * Random access to a payload's stored JSON (GETRANGE), for redacting it in steps, or null when
 * the key does not exist. A read that comes back short (the payload was evicted or released
 * meanwhile) fails rather than archiving a truncated document. Given the length to expect, a
 * payload of at most one step is read at once, a byte more asked for, instead of its length
 * first: nothing back is a payload gone, and the length found is the payload's as before.
 */
export async function storedJsonSource(
  redis: RedisClient,
  key: string,
  { stepBytes = STORED_JSON_STEP_BYTES, expectedBytes }: StoredJsonOptions = {},
): Promise<ByteSource | null> {
  if (expectedBytes !== undefined && expectedBytes > 0 && expectedBytes <= stepBytes) {
    const bytes = await redis.getrangeBuffer(key, 0, expectedBytes);
    if (bytes.length === 0) return null;
    // Whatever the key holds is the payload, as its STRLEN would have said (bytes written over
    // it fail as not JSON); more than the job gives is read again below.
    if (bytes.length <= expectedBytes) {
      return bufferSource(bytes);
    }
  }
  const length = await redis.strlen(key);
  if (length === 0) return null;
  return {
    length,
    read: async (start, end) => {
      const bytes = await redis.getrangeBuffer(key, start, end - 1);
      if (bytes.length !== end - start) {
        throw new StoredJsonChangedError(
          `payload ${key} changed while it was read: ${String(start + bytes.length)} of ${String(length)} bytes`,
        );
      }
      return bytes;
    },
  };
}
