import { windowScan, type WindowScan } from './window-scan.ts';

/** Random access to a JSON document's bytes: the stored JSON in Redis (GETRANGE), or a Buffer. */
export interface ByteSource {
  readonly length: number;
  /** Exactly the bytes [start, end), or a rejection (a source that can come back short checks). */
  read(start: number, end: number): Promise<Buffer>;
  /**
   * Where the piece of memory that holds `position` ends, for a source whose reads within one
   * piece are views and across two are copies: readers keep their reads within one where they
   * can. Absent: any read costs the same.
   */
  pieceEnd?(position: number): number;
}

export function bufferSource(bytes: Buffer): ByteSource {
  return {
    length: bytes.length,
    read: (start, end) => Promise.resolve(bytes.subarray(start, end)),
  };
}

/** Bytes read from the source at a time. */
export const SCAN_WINDOW_BYTES = 1024 * 1024;

const QUOTE = 0x22;

export class MalformedJsonError extends Error {
  constructor(message: string, position: number) {
    super(`${message} at byte ${String(position)}`);
    this.name = 'MalformedJsonError';
  }
}

/** Whether a byte (or UTF-16 code unit) is JSON whitespace: space, tab, line feed, carriage return. */
export function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/** Whether a number or a literal (`true`, `false`, `null`) may start with `byte`. */
function startsScalar(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x74 || byte === 0x66 || byte === 0x6e;
}

/** Where a string, number or literal ends: at a delimiter of the structure around it. */
function endsScalar(byte: number): boolean {
  return byte === 0x2c || byte === 0x5d || byte === 0x7d || isJsonSpace(byte);
}

/** The first index from `from`, before `stop`, whose byte is not whitespace; else `stop`. */
function pastSpace(window: Uint8Array, from: number, stop: number): number {
  let index = from;
  while (index < stop && isJsonSpace(window[index] ?? 0)) index += 1;
  return index;
}

/** The first index from `from` whose byte ends a number or literal; else the window's length. */
function scalarEndIn(window: Uint8Array, from: number): number {
  let index = from;
  while (index < window.length && !endsScalar(window[index] ?? 0)) index += 1;
  return index;
}

/**
 * Finds the extent of JSON values in a document without parsing them: strings are skipped to
 * their closing quote (bytes of multi-byte UTF-8 characters are never quotes or backslashes),
 * brackets are counted, 64 bytes at a time with WebAssembly SIMD where it runs
 * (src/encoding/window-scan.ts). Reads the source one window at a time, going back to it when
 * asked for bytes that have left the window. Checks only what it needs to find ends: the
 * values it delimits are parsed by the caller. `release` when done lets the next scanner reuse
 * the SIMD scan's memory.
 *
 * Memory: one window (SCAN_WINDOW_BYTES), its copy in the SIMD scan, plus whatever `slice` is
 * asked for.
 */
export class JsonScanner {
  readonly #source: ByteSource;
  readonly #windowBytes: number;
  readonly #newScan: () => WindowScan;
  #scan: WindowScan | undefined;
  #window: Buffer = Buffer.alloc(0);
  #base = 0;
  #lastStringStart = -1;
  #lastStringEnd = -1;

  /** `scan` is for tests: which implementation of the loops to use. */
  constructor(
    source: ByteSource,
    windowBytes: number = SCAN_WINDOW_BYTES,
    scan: () => WindowScan = windowScan,
  ) {
    this.#source = source;
    this.#windowBytes = windowBytes;
    this.#newScan = scan;
  }

  get #loops(): WindowScan {
    return (this.#scan ??= this.#newScan());
  }

  /** Done scanning: the SIMD scan's memory may serve another scanner. Scanning after it is allowed. */
  release(): void {
    this.#scan?.release();
    this.#scan = undefined;
  }

  get length(): number {
    return this.#source.length;
  }

  /** Where the source's piece holding `position` ends (ByteSource.pieceEnd), else infinity. */
  pieceEnd(position: number): number {
    return this.#source.pieceEnd?.(position) ?? Number.POSITIVE_INFINITY;
  }

  /** Makes `position` part of the window; false past the end of the document. */
  async #reach(position: number): Promise<boolean> {
    if (position >= this.#base && position < this.#base + this.#window.length) return true;
    if (position >= this.#source.length) return false;
    const end = Math.min(this.#source.length, position + this.#windowBytes, this.pieceEnd(position));
    this.#window = await this.#source.read(position, end);
    this.#base = position;
    return true;
  }

  /** The byte at `position`, or -1 past the end. */
  async byteAt(position: number): Promise<number> {
    if (!(await this.#reach(position))) return -1;
    return this.#window[position - this.#base] ?? -1;
  }

  /** The first position at or after `position` that is not whitespace. */
  async skipSpace(position: number): Promise<number> {
    let at = position;
    while (await this.#reach(at)) {
      const window = this.#window;
      const index = pastSpace(window, at - this.#base, window.length);
      at = this.#base + index;
      if (index < window.length) return at;
    }
    return at;
  }

  /** Bytes [start, end): a view of the window when it holds them, else read from the source. */
  async slice(start: number, end: number): Promise<Buffer> {
    if (start >= this.#base && end <= this.#base + this.#window.length) {
      return this.#window.subarray(start - this.#base, end - this.#base);
    }
    return this.#source.read(start, end);
  }

  /**
   * `position` is at the opening quote of a string: the position just past its closing quote.
   * The last string's end is kept: a caller that looks ahead at a value and then walks it (a
   * run of array elements stopped by a long string) scans a long string once.
   */
  async stringEnd(position: number): Promise<number> {
    if (position === this.#lastStringStart) return this.#lastStringEnd;
    let at = position + 1;
    for (;;) {
      if (!(await this.#reach(at))) throw new MalformedJsonError('unterminated string', position);
      const found = this.#loops.stringEnd(this.#window, at - this.#base);
      if (found >= 0) return this.#keepString(position, this.#base + found);
      at = this.#base - found - 1;
    }
  }

  /**
   * `position` is at a `{` or `[`: the position just past the bracket that closes it, or -1 when
   * that is not before `limit` (then little past `limit` was read).
   */
  async containerEnd(position: number, limit = Number.POSITIVE_INFINITY): Promise<number> {
    let depth = 0;
    let at = position;
    while (at < limit) {
      if (!(await this.#reach(at))) throw new MalformedJsonError('unterminated object or array', position);
      const window = this.#window;
      const base = this.#base;
      const found = this.#loops.containerEnd(window, at - base, Math.min(window.length, limit - base), depth);
      if (found.end >= 0) return base + found.end;
      depth = found.depth;
      at = found.resume < 0 ? await this.stringEnd(base - found.resume - 1) : base + found.resume;
    }
    return -1;
  }

  /** Keeps a string's end for the next stringEnd asked at its start; returns it. */
  #keepString(start: number, end: number): number {
    this.#lastStringStart = start;
    this.#lastStringEnd = end;
    return end;
  }

  /**
   * `position` is at an array element: the end of the last of the elements from it, one after
   * another, that end by `limit`, and how many they are (none when the first does not). Stops
   * before anything but a comma after an element, and where the window ends: what follows is
   * the caller's to walk. Synchronous within the window, as one await per value cost more than
   * finding where small values end.
   */
  async elementsUntil(position: number, limit: number): Promise<{ end: number; count: number }> {
    let end = -1;
    let count = 0;
    if (!(await this.#reach(position))) return { end, count };
    const window = this.#window;
    const base = this.#base;
    const stop = Math.min(window.length, limit - base);
    for (let index = position - base; index < stop;) {
      const first = window[index] as number;
      let valueEnd: number;
      if (first === 0x7b || first === 0x5b) {
        valueEnd = this.#loops.containerEnd(window, index, stop, 0).end;
      } else if (first === QUOTE) {
        valueEnd = this.#loops.stringEnd(window, index + 1);
        if (valueEnd >= 0) this.#keepString(base + index, base + valueEnd);
      } else if (startsScalar(first)) {
        valueEnd = scalarEndIn(window, index);
        if (valueEnd === window.length) valueEnd = -1;
      } else {
        break;
      }
      if (valueEnd < 0 || valueEnd > stop) break;
      end = base + valueEnd;
      count += 1;
      index = pastSpace(window, valueEnd, stop);
      if (window[index] !== 0x2c) break;
      index = pastSpace(window, index + 1, stop);
    }
    return { end, count };
  }

  /** `position` is at a number, `true`, `false` or `null`: the position just past it. */
  async scalarEnd(position: number): Promise<number> {
    let at = position;
    while (await this.#reach(at)) {
      const window = this.#window;
      const index = scalarEndIn(window, at - this.#base);
      at = this.#base + index;
      if (index < window.length) return at;
    }
    return at;
  }

  /** `position` is at the start of any value: the position just past it. */
  async valueEnd(position: number): Promise<number> {
    const byte = await this.byteAt(position);
    if (byte === QUOTE) return this.stringEnd(position);
    if (byte === 0x7b || byte === 0x5b) return this.containerEnd(position);
    if (byte === -1) throw new MalformedJsonError('a value expected', position);
    return this.scalarEnd(position);
  }
}
