import { WASM_BASE64 } from '../simd/suspect-search-wasm.ts';
import { lazyModule, reserve } from '../simd/wasm-module.ts';
import type { SuspectAlternative, SuspectPattern } from './sensitive-names.ts';

interface SearchExports {
  memoryStart(): number;
  search(classes: number, text: number, length: number, to: number, out: number): number;
}

/**
 * The class header as src/simd/suspect-search.c lays it out (`classes_t`): the Teddy tables
 * (low nibbles, then high, each 2 sets x 3 positions x 16), where each bucket's class strings
 * start, and their count.
 */
const BUCKETS = 16;
const TABLE_SET_BYTES = 3 * 16;
const HIGH_TABLES_AT = 2 * TABLE_SET_BYTES;
const BUCKET_STARTS_AT = 2 * HIGH_TABLES_AT;
const COUNT_AT = BUCKET_STARTS_AT + 4 * (BUCKETS + 1);
const HEADER_BYTES = COUNT_AT + 4;
const SET_BYTES = 32;
/** The filter reads up to 18 bytes past a window's last. */
const SLACK_BYTES = 32;
/** What a position past an alternative's end allows: anything. */
const ANY_BYTE = new Uint8Array(32).fill(0xff);

const align = (offset: number): number => Math.ceil(offset / 16) * 16;

/** Each byte the `i` flag lets stand for one of `chars` (the patterns' case folding exactly, as V8 does it). */
const charSets = new Map<string, Uint8Array>();
function charSet(chars: string): Uint8Array {
  let set = charSets.get(chars);
  if (set === undefined) {
    const escaped = Array.from(chars, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
    const member = new RegExp(`[${escaped.join('')}]`, 'i');
    set = new Uint8Array(SET_BYTES);
    for (let byte = 0; byte < 256; byte += 1) {
      if (member.test(String.fromCharCode(byte))) set[byte >> 3] = (set[byte >> 3] ?? 0) | (1 << (byte & 7));
    }
    charSets.set(chars, set);
  }
  return set;
}

/** The classes as src/simd/suspect-search.c reads them, laid out from offset 0. */
function classBytes(alternatives: readonly SuspectAlternative[]): Uint8Array {
  const sorted = [...alternatives].sort((a, b) => a.bucket - b.bucket);
  const positions = sorted.reduce((sum, alternative) => sum + alternative.chars.length, 0);
  const setsAt = align(HEADER_BYTES + 8 * sorted.length);
  const bytes = new Uint8Array(setsAt + SET_BYTES * positions);
  const words = new DataView(bytes.buffer);
  for (let bucket = 0; bucket <= BUCKETS; bucket += 1) {
    words.setInt32(
      BUCKET_STARTS_AT + 4 * bucket,
      sorted.filter((alternative) => alternative.bucket < bucket).length,
      true,
    );
  }
  words.setInt32(COUNT_AT, sorted.length, true);
  let setAt = setsAt;
  sorted.forEach((alternative, index) => {
    words.setInt32(HEADER_BYTES + 8 * index, alternative.chars.length, true);
    words.setInt32(HEADER_BYTES + 8 * index + 4, setAt, true);
    for (const chars of alternative.chars) {
      bytes.set(charSet(chars), setAt);
      setAt += SET_BYTES;
    }
    // The Teddy tables: the bucket's bit for each nibble of every byte its first three positions allow.
    const tables = TABLE_SET_BYTES * Math.floor(alternative.bucket / 8);
    const bit = 1 << (alternative.bucket % 8);
    for (let position = 0; position < 3; position += 1) {
      const chars = alternative.chars[position];
      const set = chars === undefined ? ANY_BYTE : charSet(chars);
      for (let byte = 0; byte < 256; byte += 1) {
        if (((set[byte >> 3] ?? 0) & (1 << (byte & 7))) === 0) continue;
        const low = tables + 16 * position + (byte & 15);
        const high = HIGH_TABLES_AT + tables + 16 * position + (byte >> 4);
        bytes[low] = (bytes[low] ?? 0) | bit;
        bytes[high] = (bytes[high] ?? 0) | bit;
      }
    }
  });
  return bytes;
}

/**
 * The suspect search in WebAssembly SIMD (src/simd/suspect-search.c): where in a window of
 * JSON bytes any of the suspect pattern's alternatives matches. For each place it gives the
 * longest match there, so every match of the patterns lies within one it gives: as safe for
 * passing values through as the patterns' own matches (src/redaction/redact-stored-json.ts).
 * On 10 MB of recorded traffic: 20-30 ms with the three patterns, 3-4 ms here.
 *
 * Memory: the classes (a few KiB), one window and 8 bytes per byte of it for matches at most.
 */
export class SuspectSearch {
  readonly #memory = new WebAssembly.Memory({ initial: 1 });
  readonly #exports: SearchExports;
  readonly #classes: number;
  readonly #text: number;

  constructor(module: WebAssembly.Module, alternatives: readonly SuspectAlternative[]) {
    const instance = new WebAssembly.Instance(module, { env: { memory: this.#memory } });
    this.#exports = instance.exports as unknown as SearchExports;
    this.#classes = align(this.#exports.memoryStart());
    const classes = classBytes(alternatives);
    this.#text = align(this.#classes + classes.length);
    reserve(this.#memory, this.#text);
    new Uint8Array(this.#memory.buffer, this.#classes, classes.length).set(classes);
  }

  /**
   * The matches in `text` that start before `to`: a start and an end (indexes into `text`) per
   * place, in order.
   */
  find(text: Uint8Array, to: number): Int32Array {
    const out = align(this.#text + text.length + SLACK_BYTES);
    reserve(this.#memory, out + 8 * to);
    new Uint8Array(this.#memory.buffer, this.#text, text.length).set(text);
    const found = this.#exports.search(this.#classes, this.#text, text.length, to, out);
    return new Int32Array(this.#memory.buffer, out, 2 * found).slice();
  }
}

const simdModule = lazyModule(WASM_BASE64);
const searches = new WeakMap<SuspectPattern, SuspectSearch>();

/** The SIMD search for `pattern` (one per pattern and thread); undefined where WebAssembly is not (node --jitless). */
export function suspectSearch(pattern: SuspectPattern): SuspectSearch | undefined {
  const module = simdModule();
  if (module === null) return undefined;
  let search = searches.get(pattern);
  if (search === undefined) {
    search = new SuspectSearch(module, pattern.alternatives);
    searches.set(pattern, search);
  }
  return search;
}
