/**
 * The encode pipeline as it was before parallel gzip (commit 390671a,
 * src/encoding/encode-payload.ts), kept verbatim but for its name and imports so every run
 * measures before and after side by side: one zlib gzip stream, fed 512 KiB JSON chunks while
 * stringify makes the next, so one payload keeps at most one pool thread compressing.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createGzip, gzipSync, type Gzip } from 'node:zlib';
import { base64Encode } from '../../src/encoding/base64.ts';
import { jsonChunks } from '../../src/encoding/json-chunks.ts';
import type { EncodeOptions } from '../../src/encoding/encode-payload.ts';
import { digestCounter, tally, type LayerStats } from '../../src/encoding/layers.ts';

/**
 * Size of the JSON chunks fed to zlib. Each is one job on libuv's pool, and between jobs zlib
 * waits for the main thread: large chunks keep it busy while stringify goes on (512 KiB beat
 * 128 KiB by 1.2x at level 6 and 1.3x at level 1 on 10 MB payloads; bench/RESULTS.md).
 */
const JSON_CHUNK_BYTES = 512 * 1024;
/** zlib's output chunk size: a 512 KiB chunk compresses to less, so one pass per chunk. */
const GZIP_CHUNK_BYTES = 256 * 1024;
/**
 * JSON chunks handed to zlib and not yet compressed. Stringify runs on the main thread and
 * gzip on libuv's pool: with chunks queued ahead, zlib starts the next one as soon as it is
 * done instead of waiting for the main thread to make it (bench/RESULTS.md, consumer ceiling).
 */
const CHUNKS_AHEAD = 2;

/** Resolves when zlib has taken `chunk` in (compressed it), rejects if the stream failed first. */
function compressed(gzip: Gzip, chunk: Buffer): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    gzip.write(chunk, (error) => {
      if (error) reject(error);
      else resolve();
    });
  });
  // Awaited below, or superseded by the pipeline's own error; never left unhandled.
  done.catch(() => undefined);
  return done;
}

/**
 * Writes the JSON into zlib, keeping up to CHUNKS_AHEAD chunks queued, and ends it. Between
 * chunks it lets the event loop turn, so zlib's completions are seen while stringify goes on.
 * Stops quietly when the pipeline destroyed zlib (its error is the pipeline's); a failure of
 * its own (stringify threw) destroys zlib with it.
 */
async function feed(
  chunks: Iterable<Buffer>,
  gzip: Gzip,
  onChunk: (chunk: Buffer) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const queued: Promise<void>[] = [];
  try {
    for (const chunk of chunks) {
      if (gzip.destroyed || signal?.aborted === true) return;
      onChunk(chunk);
      queued.push(compressed(gzip, chunk));
      if (queued.length > CHUNKS_AHEAD) await queued.shift();
      else await nextTurn();
    }
    if (!gzip.destroyed) gzip.end();
  } catch (error) {
    if (!gzip.destroyed) gzip.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

/**
 * Streams JSON data through stringify (JSONStream), gzip and base64 into `sink`, and returns
 * the size of each layer and the SHA-256 of the JSON. `stats` is complete once the sink has
 * read the stream to its end.
 *
 * Stringify and SHA-256 run on the main thread while zlib compresses the chunks queued before,
 * on libuv's pool: one payload keeps up to two cores busy.
 *
 * A payload whose JSON fits in one chunk is gzipped at once on the main thread (under 2 ms
 * at level 6): for small payloads the round trips to the pool cost more than the compression.
 * The bytes are the same either way.
 *
 * Memory, besides `value` itself: CHUNKS_AHEAD + 1 JSON chunks (1.5 MiB) plus the largest array
 * element, zlib's state (about 256 KiB at level 6) and one 256 KiB gzip chunk and its base64
 * per later stage, plus whatever the sink holds.
 */
export async function encodePayloadBefore<T>(
  value: unknown,
  sink: (base64: AsyncIterable<Buffer>, stats: () => LayerStats) => Promise<T>,
  options: EncodeOptions,
): Promise<T> {
  const json = digestCounter();
  let gzipBytes = 0;
  let base64Bytes = 0;
  const stats = (): LayerStats => ({ jsonBytes: json.bytes, gzipBytes, base64Bytes, jsonSha256: json.hex() });
  const onChunk = (chunk: Buffer): void => {
    json.update(chunk);
  };
  const layers = (source: AsyncIterable<Buffer>) =>
    pipeline(
      source,
      tally((chunk) => (gzipBytes += chunk.length)),
      base64Encode,
      tally((chunk) => (base64Bytes += chunk.length)),
      (base64: AsyncIterable<Buffer>) => sink(base64, stats),
      options.signal === undefined ? {} : { signal: options.signal },
    );

  const chunks = jsonChunks(value, options.jsonChunkBytes ?? JSON_CHUNK_BYTES);
  const first = chunks.next();
  const second = first.done === true ? first : chunks.next();
  if (second.done === true) {
    const only = first.done === true ? Buffer.alloc(0) : first.value;
    onChunk(only);
    const gzipped = gzipSync(only, { level: options.gzipLevel });
    return layers(Readable.from([gzipped]));
  }

  function* all(): Generator<Buffer, void, undefined> {
    if (first.done !== true) yield first.value;
    if (second.done !== true) yield second.value;
    yield* chunks;
  }
  const gzip = createGzip({ level: options.gzipLevel, chunkSize: GZIP_CHUNK_BYTES });
  const piped = layers(gzip);
  const fed = feed(all(), gzip, onChunk, options.signal);
  const [result] = await Promise.all([piped, fed]);
  return result;
}
