import { WASM_BASE64 } from '../simd/json-scan-wasm.ts';
import { lazyModule, reserve } from '../simd/wasm-module.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export interface ContainerScan {
  /** The index just past the bracket that brings the depth to 0, or -1. */
  end: number;
  /** The depth reached at `resume`. */
  depth: number;
  /** The index to go on from, or -(s + 1) for a string starting at s that goes on past the window. */
  resume: number;
}

/**
 * The JSON scanner's two loops over one window of the document (src/encoding/json-scanner.ts).
 * Each call names its window; indexes are into it.
 */
export interface WindowScan {
  /**
   * The content of a string starts at `from`: the index just past its closing quote; when the
   * string goes on past the window, -(r + 1) where r is the index to go on from (past the
   * window's end, beyond an escaped byte that is not in it yet).
   */
  stringEnd(window: Uint8Array, from: number): number;
  /** From `from` (outside any string) up to `stop`, the bracket that brings `depth` to 0. */
  containerEnd(window: Uint8Array, from: number, stop: number, depth: number): ContainerScan;
  /** Done scanning: what it holds may serve another scanner. */
  release(): void;
}

/**
 * The loops in JavaScript, byte by byte: where WebAssembly is not (node --jitless), and what
 * the SIMD scan is checked against (test/unit/window-scan.test.ts).
 */
export const bytewiseScan: WindowScan = {
  stringEnd: stringEndIn,
  containerEnd: containerEndInWindow,
  release: () => undefined,
};

function stringEndIn(window: Uint8Array, from: number): number {
  let at = from;
  for (; at < window.length; at += 1) {
    const byte = window[at];
    if (byte === QUOTE) return at + 1;
    if (byte === BACKSLASH) at += 1;
  }
  return -(at + 1);
}

function containerEndInWindow(window: Uint8Array, from: number, stop: number, depth: number): ContainerScan {
  let level = depth;
  let index = from;
  while (index < stop) {
    const byte = window[index] as number;
    if (byte === QUOTE) {
      const end = stringEndIn(window, index + 1);
      if (end < 0) return { end: -1, depth: level, resume: -(index + 1) };
      index = end;
    } else {
      if (byte === 0x7b || byte === 0x5b) level += 1;
      else if (byte === 0x7d || byte === 0x5d) {
        level -= 1;
        if (level === 0) return { end: index + 1, depth: 0, resume: index + 1 };
      }
      index += 1;
    }
  }
  return { end: -1, depth: level, resume: index };
}

interface ScanExports {
  window(): number;
  depth(): number;
  resume(): number;
  stringEnd(length: number, from: number): number;
  containerEnd(length: number, from: number, stop: number, depth: number): number;
}

/** The SIMD block reads up to 64 bytes past the window's last. */
const SLACK_BYTES = 64;
/** Idle SIMD scans kept per thread for the next scanner (each holds about a window's bytes). */
const IDLE_KEPT = 4;

/**
 * The loops in WebAssembly, 64 bytes at a time (src/simd/json-scan.c): on 10 MB of
 * recorded traffic a scan of the whole document took 2.4 ms against 12.7 ms byte by byte in
 * JavaScript. The window is copied into the instance's memory once per window (0.035 ms per
 * MiB); memory per instance: the largest window scanned (1 MiB by default) plus 64 KiB.
 */
class SimdScan implements WindowScan {
  readonly #memory: WebAssembly.Memory;
  readonly #exports: ScanExports;
  readonly #start: number;
  #loaded: Uint8Array | undefined;

  constructor(module: WebAssembly.Module) {
    this.#memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.#memory } });
    this.#exports = instance.exports as unknown as ScanExports;
    this.#start = this.#exports.window();
  }

  #load(window: Uint8Array): void {
    if (window === this.#loaded) return;
    reserve(this.#memory, this.#start + window.length + SLACK_BYTES);
    new Uint8Array(this.#memory.buffer, this.#start, window.length).set(window);
    this.#loaded = window;
  }

  stringEnd(window: Uint8Array, from: number): number {
    this.#load(window);
    return this.#exports.stringEnd(window.length, from);
  }

  containerEnd(window: Uint8Array, from: number, stop: number, depth: number): ContainerScan {
    this.#load(window);
    const end = this.#exports.containerEnd(window.length, from, stop, depth);
    if (end >= 0) return { end, depth: 0, resume: end };
    return { end: -1, depth: this.#exports.depth(), resume: this.#exports.resume() };
  }

  release(): void {
    // The next scanner's windows are its own: none is taken for the one loaded here.
    this.#loaded = undefined;
    if (idle.length < IDLE_KEPT) idle.push(this);
  }
}

const idle: SimdScan[] = [];
const simdModule = lazyModule(WASM_BASE64);

/** A scan for one scanner: SIMD where WebAssembly runs it, else byte by byte. */
export function windowScan(): WindowScan {
  const compiled = simdModule();
  if (compiled === null) return bytewiseScan;
  return idle.pop() ?? new SimdScan(compiled);
}
