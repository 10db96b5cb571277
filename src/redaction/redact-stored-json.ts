import { JsonScanner, MalformedJsonError, type ByteSource } from '../encoding/json-scanner.ts';
import { REDACTED, type RedactionPath, type RedactionPieces } from './redactor.ts';
import type { SuspectPattern } from './sensitive-names.ts';
import { suspectSearch, type SuspectSearch } from './suspect-search.ts';

/**
 * Values with a suspect whose JSON is at most this long are parsed, redacted and (if they
 * changed) stringified whole; larger objects and arrays are opened and their members taken one
 * by one. With values that hold no suspect passed through, smaller units parse less around
 * each suspect: on recorded traffic of 300 KB to 10 MB, 4 KiB units took 0.87x the time of
 * 64 KiB ones.
 */
export const UNIT_BYTES = 4 * 1024;
/**
 * The unit when every value is parsed (a custom redaction function: no suspect search). There
 * larger units win, by fewer parse calls: on 10 MB of recorded traffic 64 KiB units took 0.93x
 * the time of 16 KiB ones and 0.72x that of 4 KiB ones.
 */
export const UNSEARCHED_UNIT_BYTES = 64 * 1024;
/**
 * Containers opened one inside another at most; one deeper is taken whole as a unit when its
 * JSON is at most MAX_DEEP_UNIT_BYTES, and opened otherwise. Each level opened is a few
 * generators on the stack: a walk opening 12,000 levels ran out of a redaction thread's stack
 * and failed the payload. Taken whole, JSON.parse and the redactor's walk have no depth limit;
 * JSON.stringify, needed only when something inside was redacted, reaches about 16,000 levels
 * on a redaction thread and 5,000 on the main thread, as deep as a producer's own stringify.
 */
const MAX_OPEN_DEPTH = 1024;
const MAX_DEEP_UNIT_BYTES = 16 * 1024 * 1024;
/**
 * Output pieces are joined into chunks of about a quarter of the document, from 64 KiB to 512 KiB
 * (one gzip block each): gzip starts on a small document's first quarter while the rest is
 * redacted, and its last blocks end on every core. Against 512 KiB chunks at every size, a
 * redaction thread into gzip -6 took 0.94x the time at 300 KB, 0.87x at 600 KB and 0.91x at
 * 1 MB (interleaved); 256 KiB chunks at 3 and 10 MB took 1.05x, as a trip to the pool and a
 * dictionary per block are paid more often.
 */
const MIN_OUTPUT_CHUNK_BYTES = 64 * 1024;
const MAX_OUTPUT_CHUNK_BYTES = 512 * 1024;

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const QUOTE = 0x22;

interface Context {
  /** A linked list: a deep document must not copy its path at every level. */
  path: RedactionPath;
  /** Containers opened above. */
  depth: number;
  /** The nearest sensitive key above: every leaf below goes. */
  sensitiveKey: string | undefined;
}

/**
 * Bytes searched for suspects at once: one latin1 string small enough for V8's young generation
 * (the patterns' search), at most 8 bytes per byte of it for matches (the SIMD search).
 */
const SEARCH_BYTES = 64 * 1024;
/** Bytes read for the search at once, from a source that may be remote. */
const SEARCH_READ_BYTES = 1024 * 1024;

/** The patterns' matches in `text` that start before `to`: start and end of each, in order. */
function patternMatches(patterns: readonly RegExp[], text: string, to: number): number[] {
  const found: [number, number][] = [];
  for (const pattern of patterns) {
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null && match.index < to; match = pattern.exec(text)) {
      found.push([match.index, match.index + match[0].length]);
    }
  }
  return found.sort((a, b) => a[0] - b[0]).flat();
}

/**
 * Where redaction could change anything (the redactor's suspect pattern), found ahead of the
 * walk one search window at a time, with SIMD where WebAssembly runs (src/redaction/suspect-search.ts),
 * else with the patterns. The positions asked about never go back.
 *
 * Memory: one read (SEARCH_READ_BYTES), one search window's text and the matches in it.
 */
class SuspectFinder {
  readonly #scanner: JsonScanner;
  readonly #suspects: SuspectPattern | undefined;
  readonly #simd: SuspectSearch | undefined;
  #read: Buffer = Buffer.alloc(0);
  #readStart = 0;
  /** Start and end of each match in the window searched last, in order, from `#matchesFrom`. */
  #matches: ArrayLike<number> = [];
  #matchesFrom = 0;
  #next = 0;
  #searched = 0;

  constructor(scanner: JsonScanner, suspects: SuspectPattern | undefined) {
    this.#scanner = scanner;
    this.#suspects = suspects;
    this.#simd = suspects === undefined ? undefined : suspectSearch(suspects);
  }

  /** Where the first suspect ending after `position` starts: bytes before it need no redaction. */
  async cleanUntil(position: number): Promise<number> {
    if (this.#suspects === undefined) return position;
    for (;;) {
      const relative = position - this.#matchesFrom;
      while (this.#next < this.#matches.length && (this.#matches[this.#next + 1] ?? 0) <= relative) {
        this.#next += 2;
      }
      const start = this.#matches[this.#next];
      if (start !== undefined) return this.#matchesFrom + start;
      if (this.#searched >= this.#scanner.length) return Number.POSITIVE_INFINITY;
      await this.#search(this.#suspects);
    }
  }

  async #search({ patterns, longest }: SuspectPattern): Promise<void> {
    const length = this.#scanner.length;
    const from = this.#searched;
    const to = Math.min(length, from + SEARCH_BYTES);
    // A match may begin in this window and end in the next.
    const readTo = Math.min(length, to + longest - 1);
    if (readTo > this.#readStart + this.#read.length) {
      this.#readStart = from;
      // Within the source's piece when the window is (a read across two is a copy).
      const readEnd = Math.max(
        readTo,
        Math.min(from + SEARCH_READ_BYTES + longest, this.#scanner.pieceEnd(from)),
      );
      this.#read = await this.#scanner.slice(from, Math.min(length, readEnd));
    }
    const window = this.#read.subarray(from - this.#readStart, readTo - this.#readStart);
    this.#matches =
      this.#simd === undefined
        ? patternMatches(patterns, window.toString('latin1'), to - from)
        : this.#simd.find(window, to - from);
    this.#matchesFrom = from;
    this.#next = 0;
    this.#searched = to;
  }
}

/** Whether redactStoredJson threw this because the bytes are not JSON. */
export function isMalformedJson(error: unknown): boolean {
  return error instanceof SyntaxError || error instanceof MalformedJsonError;
}

function copyInto(target: Buffer, pieces: readonly Buffer[]): Buffer {
  let offset = 0;
  for (const piece of pieces) offset += piece.copy(target, offset);
  return target;
}

const COMMA = Buffer.from(',');
const COLON = Buffer.from(':');

/**
 * Redacts stored JSON (as the producer wrote it: `JSON.stringify`'s bytes) without parsing or
 * holding it whole, and yields the redacted JSON in chunks of 64 KiB to 512 KiB: byte for byte
 * what `JSON.stringify(redactor.redactInPlace(JSON.parse(json)))` gives (the redaction summary
 * too, but for the order of its names and which 32 are kept, when more than 32 differ).
 *
 * The document is walked with a scanner over its bytes, ahead of which the redactor's suspect
 * pattern is searched (SuspectFinder). A value that ends before the next suspect is passed
 * through as stored without being parsed: on recorded traffic that is most bytes (HTML pages,
 * JSON answers with no credentials). Any other value of at most `unitBytes` is parsed and
 * redacted as a unit (its bytes are still passed through when redaction changed nothing), and
 * a larger object or array is opened and its members taken one by one, with what the redactor
 * decides from a parent (a sensitive key above, a header list, a `{ name, value }` entry)
 * worked out here from the keys. An opened array's small elements are taken in runs of at
 * most a unit, passed through or parsed together: one by one, each element paid the walk's
 * own cost (a few microseconds of awaits), which made arrays of short log lines or records
 * with a secret in each 3-4x slower to redact than parsing the whole document. With a custom
 * redaction function nothing is passed through unparsed (it may change any string) and
 * elements are taken one by one (it is given each value's path, indices included).
 *
 * Memory: the scanner's window (1 MiB), the suspect search's read (1 MiB; views of the
 * source's pieces where it has them, as stepCache and ArrivingBytes do), one unit (a value or
 * a run of elements) and its parsed value, one output chunk, and any single string or header
 * list larger than a unit with a suspect in it, which is taken whole. `allocate` gives each output chunk's memory
 * (a redaction thread's shared slots); without it, a chunk of one piece is that piece.
 *
 * Malformed JSON throws MalformedJsonError (or the SyntaxError of JSON.parse) where it is
 * parsed or its structure walked. Inside a value passed through unparsed it is archived as
 * stored, as the consumer archives a payload with no redaction left to do.
 */
export async function* redactStoredJson(
  source: ByteSource,
  pieces: RedactionPieces,
  options: { unitBytes?: number; windowBytes?: number; allocate?: (bytes: number) => Buffer } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const unitBytes = options.unitBytes ?? (pieces.suspects === undefined ? UNSEARCHED_UNIT_BYTES : UNIT_BYTES);
  // A custom function sees each value's path, array indices included: elements one by one.
  const runs = pieces.suspects !== undefined;
  const { allocate } = options;
  const scanner = new JsonScanner(source, options.windowBytes);
  const suspects = new SuspectFinder(scanner, pieces.suspects);
  const chunkBytes = Math.max(
    MIN_OUTPUT_CHUNK_BYTES,
    Math.min(MAX_OUTPUT_CHUNK_BYTES, Math.ceil(source.length / 4)),
  );
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const out = (bytes: Buffer): boolean => {
    pending.push(bytes);
    pendingBytes += bytes.length;
    return pendingBytes >= chunkBytes;
  };
  const take = (): Buffer => {
    const chunk =
      allocate !== undefined
        ? copyInto(allocate(pendingBytes), pending)
        : pending.length === 1
          ? (pending[0] as Buffer)
          : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return chunk;
  };

  const expect = async (position: number, byte: number, what: string): Promise<void> => {
    if ((await scanner.byteAt(position)) !== byte) throw new MalformedJsonError(`${what} expected`, position);
  };

  const parse = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));

  /** The member key at `position`: its bytes, its text, and where its value starts. */
  const readKey = async (position: number): Promise<{ bytes: Buffer; key: string; valueAt: number }> => {
    await expect(position, QUOTE, 'a key');
    const keyEnd = await scanner.stringEnd(position);
    const bytes = await scanner.slice(position, keyEnd);
    const colon = await scanner.skipSpace(keyEnd);
    await expect(colon, 0x3a, 'a colon');
    return { bytes, key: parse(bytes) as string, valueAt: await scanner.skipSpace(colon + 1) };
  };

  /** After a member, at `position`: the next member's start, or -1 at `close`. */
  const nextMember = async (position: number, close: number): Promise<number> => {
    const byte = await scanner.byteAt(position);
    if (byte === close) return -1;
    if (byte !== 0x2c) {
      throw new MalformedJsonError(`a comma or ${String.fromCharCode(close)} expected`, position);
    }
    return scanner.skipSpace(position + 1);
  };

  /** A value parsed and redacted whole; its own bytes when nothing changed. */
  const unit = async (start: number, end: number, context: Context): Promise<Buffer> => {
    const bytes = await scanner.slice(start, end);
    const { value, changed } = pieces.value(parse(bytes), context.path, context.sensitiveKey);
    return changed ? Buffer.from(JSON.stringify(value)) : bytes;
  };

  /** The string value of the member `name` of the object opening at `start`, if it has one. */
  const memberString = async (start: number, name: string): Promise<string | undefined> => {
    let found: string | undefined;
    let at = await scanner.skipSpace(start + 1);
    if ((await scanner.byteAt(at)) === 0x7d) return undefined;
    while (at !== -1) {
      const { key, valueAt } = await readKey(at);
      const valueEnd = await scanner.valueEnd(valueAt);
      if (key === name) {
        // The last one counts, as in JSON.parse.
        const value: unknown =
          (await scanner.byteAt(valueAt)) === QUOTE
            ? parse(await scanner.slice(valueAt, valueEnd))
            : undefined;
        found = typeof value === 'string' ? value : undefined;
      }
      at = await nextMember(await scanner.skipSpace(valueEnd), 0x7d);
    }
    return found;
  };

  /** Bytes [start, end) as stored, in pieces of at most one output chunk. */
  async function* passThrough(start: number, end: number): AsyncGenerator<Buffer, number, undefined> {
    // Cut where the output chunk is full (chunks stay one gzip block each) and where the
    // source's piece ends (a slice across two would be a copy).
    for (let at = start; at < end;) {
      const to = Math.min(end, at + chunkBytes - pendingBytes, scanner.pieceEnd(at));
      if (out(await scanner.slice(at, to))) yield take();
      at = to;
    }
    return end;
  }

  async function* value(position: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    const start = await scanner.skipSpace(position);
    const first = await scanner.byteAt(start);
    const cleanUntil = context.sensitiveKey === undefined ? await suspects.cleanUntil(start) : start;
    if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
      const small = start + unitBytes + 1;
      let end = await scanner.containerEnd(start, Math.max(small, cleanUntil));
      if (end !== -1 && end <= cleanUntil) return yield* passThrough(start, end);
      if (end > small) end = -1;
      if (end === -1 && first === OPEN_ARRAY && pieces.isHeaderList(context.path?.key)) {
        end = await scanner.containerEnd(start);
      }
      if (end === -1 && context.depth >= MAX_OPEN_DEPTH) {
        end = await scanner.containerEnd(start, start + MAX_DEEP_UNIT_BYTES + 1);
      }
      if (end !== -1) {
        if (out(await unit(start, end, context))) yield take();
        return end;
      }
      return first === OPEN_OBJECT ? yield* object(start, context) : yield* array(start, context);
    }
    if (first === -1) throw new MalformedJsonError('a value expected', start);
    const end = first === QUOTE ? await scanner.stringEnd(start) : await scanner.scalarEnd(start);
    if (first === QUOTE && end <= cleanUntil) return yield* passThrough(start, end);
    if (first !== QUOTE && context.sensitiveKey === undefined) {
      // A number or literal under no sensitive key stays; parsed all the same, to refuse junk.
      const bytes = await scanner.slice(start, end);
      JSON.parse(bytes.toString('latin1'));
      if (out(bytes)) yield take();
      return end;
    }
    if (out(await unit(start, end, context))) yield take();
    return end;
  }

  async function* object(start: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    out(await scanner.slice(start, start + 1));
    let at = await scanner.skipSpace(start + 1);
    // Looked up once, when a `value` member is met.
    let entryName: { name: string | undefined } | undefined;
    let member = (await scanner.byteAt(at)) === 0x7d ? -1 : at;
    for (let index = 0; member !== -1; index += 1) {
      const { bytes, key, valueAt } = await readKey(member);
      if (index > 0) out(COMMA);
      out(bytes);
      out(COLON);
      const child: Context = {
        path: { parent: context.path, key },
        depth: context.depth + 1,
        sensitiveKey: context.sensitiveKey ?? (pieces.isSensitive(key) ? key : undefined),
      };
      let valueEnd: number | undefined;
      if (key === 'value' && context.sensitiveKey === undefined) {
        // A `{ name, value }` entry whose name is sensitive: its value goes, whatever it is.
        entryName ??= { name: await memberString(start, 'name') };
        const { name } = entryName;
        if (name !== undefined && pieces.isSensitive(name)) {
          valueEnd = await scanner.valueEnd(valueAt);
          const original: unknown =
            (await scanner.byteAt(valueAt)) === QUOTE && valueEnd - valueAt === REDACTED.length + 2
              ? parse(await scanner.slice(valueAt, valueEnd))
              : undefined;
          if (original !== REDACTED) pieces.entry(name);
          const redacted = pieces.value(REDACTED, child.path, child.sensitiveKey);
          if (out(Buffer.from(JSON.stringify(redacted.value)))) yield take();
        }
      }
      valueEnd ??= yield* value(valueAt, child);
      at = await scanner.skipSpace(valueEnd);
      member = await nextMember(at, 0x7d);
    }
    out(await scanner.slice(at, at + 1));
    return at + 1;
  }

  /**
   * Array elements [start, end) parsed, redacted and (if they changed) stringified as one unit,
   * each as a member of their array (without a custom function nothing reads its index).
   */
  const elementsUnit = async (start: number, end: number, context: Context): Promise<Buffer> => {
    const bytes = await scanner.slice(start, end);
    const elements: unknown = JSON.parse(`[${bytes.toString('utf8')}]`);
    const { value: redacted, changed } = pieces.value(elements, context.path, context.sensitiveKey);
    if (!changed) return bytes;
    const json = Buffer.from(JSON.stringify(redacted));
    return json.subarray(1, json.length - 1);
  };

  async function* array(start: number, context: Context): AsyncGenerator<Buffer, number, undefined> {
    out(await scanner.slice(start, start + 1));
    let at = await scanner.skipSpace(start + 1);
    let element = (await scanner.byteAt(at)) === 0x5d ? -1 : at;
    // A run is looked for after a small element: after a large one, the next is likely large too,
    // and looking would scan a unit's worth of it for nothing.
    let afterSmall = true;
    for (let index = 0; element !== -1;) {
      if (index > 0) out(COMMA);
      const run =
        runs && afterSmall
          ? await scanner.elementsUntil(element, element + unitBytes)
          : { end: -1, count: 0 };
      if (run.count > 1) {
        const cleanUntil = context.sensitiveKey === undefined ? await suspects.cleanUntil(element) : element;
        if (run.end <= cleanUntil) yield* passThrough(element, run.end);
        else if (out(await elementsUnit(element, run.end, context))) yield take();
        index += run.count;
        at = await scanner.skipSpace(run.end);
      } else {
        const child: Context = {
          path: { parent: context.path, key: index },
          depth: context.depth + 1,
          sensitiveKey: context.sensitiveKey,
        };
        const end = yield* value(element, child);
        afterSmall = end - element <= unitBytes;
        at = await scanner.skipSpace(end);
        index += 1;
      }
      element = await nextMember(at, 0x5d);
    }
    out(await scanner.slice(at, at + 1));
    return at + 1;
  }

  try {
    const end = await scanner.skipSpace(
      yield* value(0, { path: undefined, depth: 0, sensitiveKey: undefined }),
    );
    if (end < scanner.length) throw new MalformedJsonError('nothing expected after the document', end);
    if (pendingBytes > 0) yield take();
  } finally {
    scanner.release();
  }
}
