import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DebugArchiverError, IntegrityError } from '../errors.ts';
import { base64Decode } from './base64.ts';
import { digestCounter } from './layers.ts';

function corrupt(key: string, error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new DebugArchiverError(
      'ERR_CORRUPT_OBJECT',
      `payload ${key} is corrupt: its gzip layer does not inflate`,
      {
        cause: error,
      },
    );
  }
  if (error instanceof DebugArchiverError && error.code === 'ERR_CORRUPT_OBJECT') {
    return new DebugArchiverError('ERR_CORRUPT_OBJECT', `payload ${key} is corrupt: ${error.message}`, {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Undoes base64 and gzip as the object streams in, and checks the JSON against the SHA-256
 * recorded at archive time: on a mismatch the returned stream fails with an IntegrityError
 * after its last byte, so a caller writing a file must discard it on error. A broken layer
 * fails it with ERR_CORRUPT_OBJECT.
 *
 * Memory: one S3 chunk, zlib's inflate state and one output chunk, whatever the payload size.
 */
export function decodeArchive(
  body: AsyncIterable<Buffer>,
  key: string,
  expectedSha256: string | undefined,
): Readable {
  const gunzip = createGunzip();
  // A failure here destroys gunzip with it, and so reaches the loop below.
  const feeding = pipeline(body, base64Decode, gunzip);
  feeding.catch(() => undefined);

  async function* decoded(): AsyncGenerator<Buffer, void, undefined> {
    const json = digestCounter();
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        json.update(chunk);
        yield chunk;
      }
      await feeding;
    } catch (error) {
      throw corrupt(key, error);
    }
    if (expectedSha256 !== undefined && json.hex() !== expectedSha256) {
      throw new IntegrityError(key, expectedSha256, json.hex());
    }
  }
  return Readable.from(decoded(), { objectMode: false });
}
