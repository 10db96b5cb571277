import { constants, crc32, createDeflateRaw, deflateRawSync, gzipSync, type DeflateRaw } from 'node:zlib';

/**
 * Largest block compressed as one job; larger input is cut (a 1 MiB read from Redis is two
 * jobs, so two cores). Large enough that its trip to the pool and its dictionary are paid back
 * many times over: 512 KiB beat 128 KiB by 1.2x at level 6 on 10 MB payloads.
 */
export const MAX_BLOCK_BYTES = 512 * 1024;
/**
 * Largest last block compressed on the calling thread, which it holds for that long (about
 * 2.5 ms at level 6): as long as gzipInTwo holds it for the largest lone block.
 */
const MAX_LAST_ON_CALLER_BYTES = MAX_BLOCK_BYTES / 2;
/** Deflate's window: each block is primed with this much of the data before it. */
const WINDOW_BYTES = 32 * 1024;
/**
 * Most of zlib's output buffer per pass. Each pass is one trip to the pool: at the default
 * 16 KiB a 512 KiB block took seven trips at level 1 (1.5x its compression time). A smaller
 * block gets a buffer its own size (what deflate can at worst make of it, plus slack).
 */
const MAX_OUTPUT_CHUNK_BYTES = 256 * 1024;
/** A gzip header with no name, no mtime and OS "unix", as zlib's own gzip writes it. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);

export interface ParallelGzipOptions {
  level: number;
  /**
   * Blocks compressed at once on libuv's pool. One more is queued, so a pool thread that ends
   * one starts the next at once instead of waiting for the main thread to hand it over.
   */
  parallelism: number;
  /**
   * Called with every block of input, in order, once its compression is under way: work done
   * here on the main thread (a digest) overlaps the pool's instead of delaying it.
   */
  onBlock?: ((block: Buffer) => void) | undefined;
  /**
   * About how many bytes the input holds, when the caller knows (the stored JSON's length).
   * A first block well short of it goes to the pool at once, without waiting to see whether it
   * is the only one, so compression overlaps the making of the rest (redaction on this
   * thread, say); the block that brings the input to about this size is held back, and when no
   * other follows it is compressed on this thread rather than on the pool.
   */
  expectedBytes?: number | undefined;
}

/**
 * Gzip that compresses blocks (of at most MAX_BLOCK_BYTES) at once on libuv's pool, as pigz does: each block is raw deflate
 * primed with the 32 KiB before it (so the ratio is that of one stream) and ended with a sync
 * flush (so the blocks join byte-aligned), then the last block (or an empty one) and the
 * trailer (CRC-32 and length of the whole input). The output is one ordinary gzip member that
 * every gunzip reads; only its compressed bytes differ from zlib's single-threaded gzip.
 *
 * Input of one block only, smaller than MAX_BLOCK_BYTES, is gzipped on the calling thread: a
 * trip to the pool costs more than compressing a small payload (bench/RESULTS.md, consumer
 * ceiling). From 48 KiB (level 4 and up; 96 KiB below) it is cut in two, one half on
 * the pool and the other on the calling thread at once (gzipInTwo).
 *
 * Memory: up to `parallelism` + 3 input blocks (on the pool or queued for it, one more near the
 * size expected, one held back) and their compressed output, plus one 32 KiB dictionary.
 */
export async function* parallelGzip(
  blocks: AsyncIterable<Buffer> | Iterable<Buffer>,
  options: ParallelGzipOptions,
): AsyncGenerator<Buffer, void, undefined> {
  const { level, onBlock, expectedBytes } = options;
  const parallelism = Math.max(1, options.parallelism);
  const source = (async function* () {
    for await (const block of blocks) {
      for (let offset = 0; offset < block.length; offset += MAX_BLOCK_BYTES) {
        yield block.subarray(offset, offset + MAX_BLOCK_BYTES);
      }
    }
  })();
  let crc = 0;
  let size = 0;
  let window: Buffer | undefined;
  const inFlight: Promise<Buffer>[] = [];
  /**
   * Whether to hold a block back until the next shows whether it was the last. Without a
   * size to expect, only a first block smaller than a full one waits: it may be all there is.
   */
  const mayBeLast = (block: Buffer): boolean =>
    expectedBytes === undefined
      ? size === 0 && block.length < MAX_BLOCK_BYTES
      : expectedBytes - (size + block.length) < Math.min(expectedBytes / 8, block.length);
  /**
   * Whether the input is expected to end with the next block, small enough to be compressed
   * here: it is read now, while the pool is busy, rather than after the oldest block comes back,
   * so this thread compresses it beside the pool instead of after it (one block more in flight).
   */
  const lastExpectedNext = (): boolean =>
    expectedBytes !== undefined && expectedBytes - size <= MAX_LAST_ON_CALLER_BYTES;
  const start = (block: Buffer): void => {
    const compressing = deflateOnPool(block, level, window);
    // Awaited in order below; if the reader stops early, a late failure has no one to tell.
    compressing.catch(() => undefined);
    inFlight.push(compressing);
    window = tail(window, block);
    count(block);
  };
  /** Adds a block to the trailer's CRC-32 and length, and hands it to onBlock. */
  const count = (block: Buffer): void => {
    crc = crc32(block, crc);
    size += block.length;
    onBlock?.(block);
  };
  try {
    let held: Buffer | undefined;
    let started = false;
    for (let next = await source.next(); next.done !== true; next = await source.next()) {
      const toStart = held === undefined ? [] : [held];
      held = undefined;
      if (mayBeLast(next.value)) held = next.value;
      else toStart.push(next.value);
      if (toStart.length === 0) continue;
      if (!started) yield GZIP_HEADER;
      started = true;
      for (const block of toStart) start(block);
      // Past the size expected, every block is held back in turn: the pool is waited for all the same.
      while (inFlight.length > parallelism + (lastExpectedNext() ? 1 : 0)) {
        const oldest = inFlight.shift();
        if (oldest !== undefined) yield await oldest;
      }
    }
    if (!started) {
      yield* gzipLone(held ?? Buffer.alloc(0), level, parallelism, onBlock);
      return;
    }
    if (held !== undefined && held.length > MAX_LAST_ON_CALLER_BYTES) {
      start(held);
      held = undefined;
    }
    // The last block is compressed here while the pool ends the others.
    if (held !== undefined) count(held);
    const end = deflateLast(held ?? Buffer.alloc(0), level, held === undefined ? undefined : window);
    for (const compressing of inFlight.splice(0)) yield await compressing;
    yield Buffer.concat([end, gzipTrailer(crc, size)]);
  } finally {
    await source.return();
  }
}

/** All the input in one block: gzipped here, or in two halves at once from splitBytes. */
function gzipLone(
  block: Buffer,
  level: number,
  parallelism: number,
  onBlock: ((block: Buffer) => void) | undefined,
): Iterable<Buffer> | AsyncIterable<Buffer> {
  if (parallelism > 1 && block.length >= splitBytes(level)) return gzipInTwo(block, level, onBlock);
  onBlock?.(block);
  return [gzipSync(block, { level })];
}

/**
 * The smallest lone block worth cutting in two (gzipInTwo) at `level`: below it the trip to the
 * pool, the second zlib stream and its dictionary cost more than half the compression saves.
 * zlib's levels 1-3 (deflate_fast) compress about 2x as fast as 4-9 (deflate_slow). Against
 * gzipSync, on recorded traffic, with one trip to the pool per half (deflateOnPool): level 6
 * ran at 0.84x its speed at 30 KB, 1.21x at 45 KB, 1.42x at 100 KB; level 1 at 0.71x at
 * 45 KB, 1.05x at 75 KB, 1.20x at 100 KB (with two trips, level 1 gained only from 200 KB).
 */
function splitBytes(level: number): number {
  return level <= 3 ? 96 * 1024 : 48 * 1024;
}

/**
 * Gzips a lone block in two halves at once: the first on libuv's pool, the second on this
 * thread, primed with the first's last 32 KiB. The event loop is held for half the block
 * rather than all of it.
 */
async function* gzipInTwo(
  block: Buffer,
  level: number,
  onBlock: ((block: Buffer) => void) | undefined,
): AsyncGenerator<Buffer, void, undefined> {
  const half = block.length >>> 1;
  const head = block.subarray(0, half);
  const rest = block.subarray(half);
  const compressing = deflateOnPool(head, level, undefined);
  // Awaited below; if this thread's half throws first, the pool's has no one to tell.
  compressing.catch(() => undefined);
  onBlock?.(block);
  const restCompressed = deflateLast(rest, level, head.subarray(Math.max(0, half - WINDOW_BYTES)));
  yield GZIP_HEADER;
  yield await compressing;
  yield Buffer.concat([restCompressed, gzipTrailer(crc32(block), block.length)]);
}

/** Raw deflate of the input's last block, here, primed with `dictionary` and ended (Z_FINISH). */
function deflateLast(block: Buffer, level: number, dictionary: Buffer | undefined): Buffer {
  return deflateRawSync(block, {
    level,
    finishFlush: constants.Z_FINISH,
    chunkSize: block.length + 1024,
    ...(dictionary === undefined ? {} : { dictionary }),
  });
}

/** A gzip member's trailer: the CRC-32 and the length (modulo 2^32) of all the input. */
function gzipTrailer(crc: number, size: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  return trailer;
}

/**
 * Raw deflate of one block on libuv's pool, primed with `dictionary` and ended with a sync
 * flush: the bytes of `deflateRaw(block, { finishFlush: Z_SYNC_FLUSH })` in one trip to the
 * pool. `deflateRaw` ends its stream, and the end is a second trip with an empty input: it
 * cost 0.1 to 0.3 ms per block on this machine (two more thread wake-ups), a fifth of a 100 KB
 * payload's gzip. A stream whose every write is sync-flushed gives all of a block's output by
 * the write's callback; it is closed right after the callback, never ended.
 */
function deflateOnPool(block: Buffer, level: number, dictionary: Buffer | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const deflate = createDeflateRaw({
      level,
      flush: constants.Z_SYNC_FLUSH,
      chunkSize: Math.min(MAX_OUTPUT_CHUNK_BYTES, block.length + 1024),
      ...(dictionary === undefined ? {} : { dictionary }),
    });
    const output: Buffer[] = [];
    deflate.on('data', (chunk: Buffer) => {
      output.push(chunk);
    });
    deflate.on('error', reject);
    deflate.write(block, (error) => {
      // Output the stream buffered rather than emitted (none is, as streams flow now) is read
      // out through the listener above before the stream is closed.
      while (deflate.readableLength > 0 && deflate.read() !== null);
      // Closed once the write's callback has returned: a stream destroyed inside it builds an
      // ERR_STREAM_DESTROYED (stack trace included) for finish callbacks it does not have,
      // 2.3% of the event loop's samples archiving 100 KB payloads.
      process.nextTick(closeStream, deflate);
      if (error) reject(error);
      else resolve(output.length === 1 ? (output[0] as Buffer) : Buffer.concat(output));
    });
  });
}

function closeStream(stream: DeflateRaw): void {
  stream.close();
}

/** The last WINDOW_BYTES of everything seen so far, copied: blocks are not kept alive. */
function tail(previous: Buffer | undefined, block: Buffer): Buffer {
  if (block.length >= WINDOW_BYTES) return Buffer.from(block.subarray(block.length - WINDOW_BYTES));
  const joined = previous === undefined ? block : Buffer.concat([previous, block]);
  return Buffer.from(joined.subarray(Math.max(0, joined.length - WINDOW_BYTES)));
}
