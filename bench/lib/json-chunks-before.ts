/**
 * src/encoding/json-chunks.ts as it was before the benchmark's tuning (commit 40454db), kept
 * verbatim for bench/lib/encode-before.ts: each chunk is `Buffer.from(pieces.join(''))`.
 */
import * as JSONStream from 'JSONStream';

interface JsonArrayWriter {
  write(value: unknown): boolean;
  end(): void;
  on(event: 'data', listener: (text: string) => void): unknown;
}

/** How deep objects are walked in search of arrays whose elements can be streamed. */
const WALK_DEPTH = 8;

/**
 * Serialises JSON data (a value as `JSON.parse` returns it) as a sequence of UTF-8 chunks of
 * about `chunkBytes`, byte-identical to `JSON.stringify(value)`.
 *
 * Objects are walked to a depth of 8 and every array met on the way is streamed element by
 * element through JSONStream, so the largest string built at once is one array element (or
 * one property that is not an object or array), never the whole document. Pieces are coalesced
 * into chunks before they are yielded: zlib fed many tiny writes runs at half its speed.
 *
 * Memory: one chunk (about `chunkBytes`) plus the largest single element or leaf.
 */
export function* jsonChunksBefore(value: unknown, chunkBytes: number): Generator<Buffer, void, undefined> {
  let pending: string[] = [];
  let pendingLength = 0;
  const push = (text: string): void => {
    pending.push(text);
    pendingLength += text.length;
  };
  const take = (): Buffer => {
    const chunk = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    pendingLength = 0;
    return chunk;
  };

  function* walk(node: unknown, depth: number): Generator<Buffer, void, undefined> {
    if (Array.isArray(node) && node.length > 0 && depth < WALK_DEPTH) {
      // @types/jsonstream types the stream as bytes; it takes any value (object mode).
      const elements = JSONStream.stringify('[', ',', ']') as unknown as JsonArrayWriter;
      elements.on('data', (text: string) => {
        push(text);
      });
      for (const element of node as unknown[]) {
        elements.write(element);
        if (pendingLength >= chunkBytes) yield take();
      }
      elements.end();
    } else if (typeof node === 'object' && node !== null && !Array.isArray(node) && depth < WALK_DEPTH) {
      const record = node as Record<string, unknown>;
      let separator = '{';
      for (const key of Object.keys(record)) {
        push(`${separator}${JSON.stringify(key)}:`);
        separator = ',';
        yield* walk(record[key], depth + 1);
      }
      push(separator === '{' ? '{}' : '}');
    } else {
      push(JSON.stringify(node));
    }
    if (pendingLength >= chunkBytes) yield take();
  }

  yield* walk(value, 0);
  if (pendingLength > 0) yield take();
}
