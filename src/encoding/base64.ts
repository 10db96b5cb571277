import { DebugArchiverError } from '../errors.ts';

/**
 * Streaming base64. Encoding carries up to 2 bytes between chunks so every emitted piece is
 * whole base64 quanta; decoding carries up to 3 characters. Memory: one input chunk.
 */
export async function* base64Encode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  let carry = Buffer.alloc(0);
  for await (const chunk of source) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const whole = data.length - (data.length % 3);
    carry = Buffer.from(data.subarray(whole));
    if (whole > 0) yield Buffer.from(data.toString('base64', 0, whole), 'latin1');
  }
  if (carry.length > 0) yield Buffer.from(carry.toString('base64'), 'latin1');
}

const BASE64_TEXT = /^[A-Za-z0-9+/]*={0,2}$/;

/** Inverse of base64Encode; throws on characters that are not base64. */
export async function* base64Decode(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  let carry = '';
  for await (const chunk of source) {
    const text = carry + chunk.toString('latin1').replace(/\s+/g, '');
    const whole = text.length - (text.length % 4);
    carry = text.slice(whole);
    if (whole > 0) yield decode(text.slice(0, whole));
  }
  if (carry.length > 0) throw new DebugArchiverError('ERR_CORRUPT_OBJECT', 'its base64 layer is truncated');
}

function decode(text: string): Buffer {
  if (!BASE64_TEXT.test(text))
    throw new DebugArchiverError(
      'ERR_CORRUPT_OBJECT',
      'its base64 layer holds characters that are not base64',
    );
  return Buffer.from(text, 'base64');
}
