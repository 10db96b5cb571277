/**
 * The encode pipeline as it was before the benchmark's tuning (commit 40454db,
 * src/encoding/encode-payload.ts and json-chunks.ts), kept verbatim so every run measures
 * before and after side by side: pipeline() pulls the stringify generator, and zlib's 16 KiB
 * write buffer lets it make the next chunk only once the last one is compressed, so stringify
 * and gzip take turns.
 */
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { base64Encode } from '../../src/encoding/base64.ts';
import type { EncodeOptions } from '../../src/encoding/encode-payload.ts';
import { jsonChunksBefore as jsonChunks } from './json-chunks-before.ts';
import { digestCounter, tally, type LayerStats } from '../../src/encoding/layers.ts';

const JSON_CHUNK_BYTES = 128 * 1024;
/** zlib's output chunk size. */
const GZIP_CHUNK_BYTES = 64 * 1024;

/**
 * Streams JSON data through stringify (JSONStream), gzip and base64 into `sink`, and returns
 * the size of each layer and the SHA-256 of the JSON. `stats` is complete once the sink has
 * read the stream to its end.
 *
 * Memory, besides `value` itself: one JSON chunk (128 KiB) plus the largest array element,
 * zlib's state (about 256 KiB at level 6) and one 64 KiB chunk per later stage, plus whatever
 * the sink holds.
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
  function* hashed(): Generator<Buffer, void, undefined> {
    for (const chunk of jsonChunks(value, JSON_CHUNK_BYTES)) {
      json.update(chunk);
      yield chunk;
    }
  }
  return pipeline(
    hashed(),
    createGzip({ level: options.gzipLevel, chunkSize: GZIP_CHUNK_BYTES }),
    tally((chunk) => (gzipBytes += chunk.length)),
    base64Encode,
    tally((chunk) => (base64Bytes += chunk.length)),
    (source: AsyncIterable<Buffer>) => sink(source, stats),
    options.signal === undefined ? {} : { signal: options.signal },
  );
}
