/**
 * The part of the WebAssembly JavaScript API that the SIMD wrappers use (src/simd/wasm-module.ts,
 * src/encoding/window-scan.ts, src/redaction/suspect-search.ts): Node has the global, but
 * @types/node does not declare it, and the DOM's lib would bring all the rest.
 */
declare namespace WebAssembly {
  /** Compiled code, opaque here: it is only instantiated. */
  type Module = object;
  const Module: new (bytes: Uint8Array) => Module;
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    /** Grows by `pages` of 64 KiB; returns the size before, in pages. */
    grow(pages: number): number;
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
