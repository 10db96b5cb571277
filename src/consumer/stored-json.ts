import type { RedisClient } from '../redis-client.ts';
import type { ByteSource } from '../encoding/json-scanner.ts';

/**
 * Bytes read per GETRANGE: one read in flight ahead of the one being compressed, each a small
 * share of Redis's time, so other clients are not held up by one large payload.
 */
export const STORED_JSON_STEP_BYTES = 1024 * 1024;

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
  stepBytes = STORED_JSON_STEP_BYTES,
): Promise<{ bytes: number; chunks: AsyncGenerator<Buffer, void, undefined> } | null> {
  const source = await storedJsonSource(redis, key);
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
 * A payload's stored JSON as one string, or null when the key does not exist: every
 * STORED_JSON_STEP_BYTES step requested at once (GETRANGE, pipelined on the connection) and
 * copied into one buffer, decoded once. For large payloads this is about twice as fast as one
 * GET: ioredis assembles a large reply by growing buffers, each a fresh allocation (10 MB:
 * 35 ms against 66 ms, parse included). For payloads that are read whole anyway (redacted
 * whole, so at most WHOLE_REDACTION_MAX_BYTES): memory is the JSON's bytes and its string.
 */
export async function readStoredJson(
  redis: RedisClient,
  key: string,
  stepBytes = STORED_JSON_STEP_BYTES,
): Promise<string | null> {
  return (await readStoredBytes(redis, key, stepBytes))?.toString('utf8') ?? null;
}

/** As readStoredJson, without decoding: the bytes in one buffer of their own. */
export async function readStoredBytes(
  redis: RedisClient,
  key: string,
  stepBytes = STORED_JSON_STEP_BYTES,
): Promise<Buffer | null> {
  const source = await storedJsonSource(redis, key);
  if (source === null) return null;
  const whole = Buffer.allocUnsafe(source.length);
  const steps: Promise<number>[] = [];
  for (let offset = 0; offset < source.length; offset += stepBytes) {
    const end = Math.min(source.length, offset + stepBytes);
    steps.push(source.read(offset, end).then((bytes) => bytes.copy(whole, offset)));
  }
  await Promise.all(steps);
  return whole;
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
 * meanwhile) fails rather than archiving a truncated document.
 */
export async function storedJsonSource(redis: RedisClient, key: string): Promise<ByteSource | null> {
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
