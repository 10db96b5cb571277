import * as JSONStream from 'JSONStream';
import { jsonLengthExceeds } from './json-length.ts';
import { utf8Concat } from './utf8-concat.ts';

interface JsonArrayWriter {
  write(value: unknown): boolean;
  end(): void;
  on(event: 'data', listener: (text: string) => void): unknown;
}

/** How deep objects are walked in search of arrays whose elements can be streamed. */
const WALK_DEPTH = 8;
/**
 * A value whose JSON is estimated at or under this many characters is one `JSON.stringify`:
 * native is fastest, and streaming pays off only where it keeps a large document from being
 * one string (bench/RESULTS.md, stringify stage: 2.3x native at 100 KB when streamed).
 */
export const ONE_STRING_CHARS = 1024 * 1024;

/**
 * Serialises JSON data (a value as `JSON.parse` returns it) as a sequence of UTF-8 chunks of
 * about `chunkBytes`, byte-identical to `JSON.stringify(value)`.
 *
 * Objects are walked to a depth of 8 and every array met on the way is streamed element by
 * element through JSONStream, so the largest string built at once is one array element (or
 * one property that is not an object or array), never the whole document. Pieces are coalesced
 * into chunks before they are yielded: zlib fed many tiny writes runs at half its speed.
 *
 * A value estimated at or under `oneStringChars` (default ONE_STRING_CHARS) of JSON is
 * stringified at once instead and yielded as one chunk. A caller that knows about how long the
 * JSON is (it parsed the value from JSON, say) passes it as `knownLength`, which saves walking
 * the value to estimate it (about 1 ms per MB).
 *
 * Memory: one chunk (about `chunkBytes`, or ONE_STRING_CHARS for a small value) plus the
 * largest single element or leaf.
 */
export function* jsonChunks(
  value: unknown,
  chunkBytes: number,
  oneStringChars = ONE_STRING_CHARS,
  knownLength?: number,
): Generator<Buffer, void, undefined> {
  const small =
    knownLength === undefined ? !jsonLengthExceeds(value, oneStringChars) : knownLength <= oneStringChars;
  if (small) {
    yield Buffer.from(JSON.stringify(value));
    return;
  }
  let pending: string[] = [];
  let pendingLength = 0;
  const push = (text: string): void => {
    pending.push(text);
    pendingLength += text.length;
  };
  // Each piece is whole JSON text: a surrogate pair is never split between two.
  const take = (): Buffer => {
    const chunk = utf8Concat(pending);
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
