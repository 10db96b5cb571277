/**
 * What the two SIMD modules' wrappers (src/encoding/window-scan.ts,
 * src/redaction/suspect-search.ts) share: compiling a committed module, and growing the memory
 * each instance is given.
 */

/**
 * The module built into `base64` (src/simd/*-wasm.ts), compiled on the first call and kept;
 * null where WebAssembly or its SIMD is not (node --jitless), so callers fall back.
 */
export function lazyModule(base64: string): () => WebAssembly.Module | null {
  let module: WebAssembly.Module | null | undefined;
  return () => {
    if (module === undefined) {
      try {
        module = new WebAssembly.Module(Buffer.from(base64, 'base64'));
      } catch {
        module = null;
      }
    }
    return module;
  };
}

const PAGE_BYTES = 64 * 1024;

/** Grows `memory` to hold at least `bytes`. */
export function reserve(memory: WebAssembly.Memory, bytes: number): void {
  const needed = bytes - memory.buffer.byteLength;
  if (needed > 0) memory.grow(Math.ceil(needed / PAGE_BYTES));
}
