import { defaults } from '../config.ts';
import { untilAborted } from '../until-aborted.ts';
import { base64Encode } from './base64.ts';
import { jsonChunks, ONE_STRING_CHARS } from './json-chunks.ts';
import { digestCounter, tally, type LayerStats } from './layers.ts';
import { MAX_BLOCK_BYTES, parallelGzip } from './parallel-gzip.ts';

/** Size of the JSON chunks stringify makes: one gzip block each (MAX_BLOCK_BYTES). */
export const JSON_CHUNK_BYTES = MAX_BLOCK_BYTES;
export interface EncodeOptions {
  gzipLevel: number;
  /** Blocks compressed at once on libuv's pool; default the number of cores (src/config.ts). */
  gzipParallelism?: number | undefined;
  signal?: AbortSignal | undefined;
  /** JSON chunk size; default JSON_CHUNK_BYTES. For benchmarks and tuning. */
  jsonChunkBytes?: number | undefined;
  /**
   * About how long the JSON is, when the caller knows (it parsed it from JSON, or stored it):
   * saves walking the value to choose between one string and streaming, and lets gzip start
   * on a first block short of it at once (parallelGzip's `expectedBytes`).
   */
  jsonLength?: number | undefined;
}

/**
 * Streams JSON data through stringify (JSONStream), gzip and base64 into `sink`, and returns
 * the size of each layer and the SHA-256 of the JSON. `stats` is complete once the sink has
 * read the stream to its end. The body is an archived object's, as `openDebugPayloadStream`
 * reads it: for tools that write objects themselves. The consumer has the JSON as bytes
 * already and uses encodeJson.
 *
 * Stringify and SHA-256 run on the main thread; gzip compresses up to `gzipParallelism` blocks
 * at once on libuv's pool (parallelGzip), so one payload can keep every core busy. Run several
 * consumers on one machine, or a high concurrency, with a lower `gzipParallelism`: the pool
 * (UV_THREADPOOL_SIZE, 4 by default) is shared with DNS look-ups and file I/O.
 *
 * Memory, besides `value` itself: `gzipParallelism` + 3 JSON chunks (512 KiB each) plus the
 * largest array element, their compressed blocks, and one block's base64, plus whatever the
 * sink holds.
 */
export function encodePayload<T>(
  value: unknown,
  sink: (base64: AsyncIterable<Buffer>, stats: () => LayerStats) => Promise<T>,
  options: EncodeOptions,
): Promise<T> {
  const chunks = jsonChunks(
    value,
    options.jsonChunkBytes ?? JSON_CHUNK_BYTES,
    ONE_STRING_CHARS,
    options.jsonLength,
  );
  return encodeJson(chunks, sink, options);
}

/**
 * Streams JSON text that exists already (the bytes a producer stored) through gzip and base64
 * into `sink`, like encodePayload without the stringify stage. Memory: as encodePayload's, with
 * the source's chunks in place of stringify's.
 *
 * The stages are async generators joined directly rather than by `stream.pipeline`, whose
 * stream plumbing cost about 0.2 ms per payload (a fifth of a 100 KB payload's time). What it
 * gave is kept: an abort rejects at once with the signal's reason, and when the sink stops
 * early or fails, the stages are closed (blocks being compressed, the source's reads).
 */
export async function encodeJson<T>(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  sink: (base64: AsyncIterable<Buffer>, stats: () => LayerStats) => Promise<T>,
  options: EncodeOptions,
): Promise<T> {
  const { signal } = options;
  signal?.throwIfAborted();
  const json = digestCounter();
  let gzipBytes = 0;
  let base64Bytes = 0;
  const stats = (): LayerStats => ({ jsonBytes: json.bytes, gzipBytes, base64Bytes, jsonSha256: json.hex() });

  const gzip = parallelGzip(chunks, {
    level: options.gzipLevel,
    parallelism: options.gzipParallelism ?? defaults.gzipParallelism,
    expectedBytes: options.jsonLength,
    onBlock: (block) => {
      json.update(block);
    },
  });
  const base64 = tally((chunk) => {
    signal?.throwIfAborted();
    base64Bytes += chunk.length;
  })(base64Encode(tally((chunk) => (gzipBytes += chunk.length))(gzip)));

  try {
    // A sink stuck on something else must not hold up the abort.
    return await untilAborted(sink(base64, stats), signal);
  } finally {
    // Closes every stage behind the sink (after a read under way, if any); errors are the sink's to report.
    base64.return(undefined).catch(() => undefined);
  }
}
