import { describe, expect, it, vi } from 'vitest';
import { createPrng, type Prng } from '../../src/demo/prng.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { bufferSource, JsonScanner, MalformedJsonError } from '../../src/encoding/json-scanner.ts';
import { bytewiseScan, windowScan, type WindowScan } from '../../src/encoding/window-scan.ts';

/** Bytes that matter to the scan, often, among others: multi-byte UTF-8 too. */
const BYTES = [...Buffer.from('""\\\\{}[]a ,:'), 0xe2, 0x84, 0xaa, 0x00];

function randomBytes(prng: Prng, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index += 1) {
    // Runs of backslashes, which escape in pairs, across the scan's 64-byte blocks.
    bytes[index] = prng.chance(0.05) ? 0x5c : prng.pick(BYTES);
  }
  return bytes;
}

/** Random JSON with strings full of what the scan must skip: quotes, backslashes, brackets. */
function randomValue(prng: Prng, depth: number): unknown {
  const text = (): string => {
    let out = '';
    const length = prng.int(0, prng.chance(0.1) ? 300 : 12);
    for (let index = 0; index < length; index += 1)
      out += prng.pick(['"', '\\', '{', '}', '[', ']', 'a', 'é', '™', '\n']);
    return out;
  };
  if (depth <= 0 || prng.chance(0.3)) return prng.pick([text(), prng.int(-1e6, 1e6), true, null]);
  if (prng.chance(0.5)) return Array.from({ length: prng.int(0, 6) }, () => randomValue(prng, depth - 1));
  return Object.fromEntries(
    Array.from({ length: prng.int(0, 6) }, () => [text(), randomValue(prng, depth - 1)]),
  );
}

describe('the SIMD window scan', () => {
  it('runs here, rather than the JavaScript loops it stands in for', () => {
    const scan = windowScan();
    expect(scan).not.toBe(bytewiseScan);
    scan.release();
  });

  it('gives way to the byte-by-byte loops where WebAssembly is not (node --jitless)', async () => {
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    try {
      const fresh = await import('../../src/encoding/window-scan.ts');
      expect(fresh.windowScan()).toBe(fresh.bytewiseScan);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });

  it('agrees with the byte-by-byte loops on random bytes, JSON or not, at every kind of position', () => {
    const prng = createPrng(7);
    const scan = windowScan();
    for (let round = 0; round < 20_000; round += 1) {
      const window = randomBytes(prng, prng.int(0, prng.chance(0.5) ? 40 : 400));
      const from = prng.int(0, window.length);
      const stop = prng.int(from, window.length);
      const depth = prng.int(0, 3);
      const context = { window: Buffer.from(window).toString('latin1'), from, stop, depth };
      expect({ ...context, end: scan.stringEnd(window, from) }).toEqual({
        ...context,
        end: bytewiseScan.stringEnd(window, from),
      });
      expect({ ...context, scan: scan.containerEnd(window, from, stop, depth) }).toEqual({
        ...context,
        scan: bytewiseScan.containerEnd(window, from, stop, depth),
      });
    }
    scan.release();
  });

  it('finds the same value ends as the byte-by-byte scanner in random JSON, across small windows', async () => {
    const prng = createPrng(11);
    const scans: Record<string, () => WindowScan> = { simd: windowScan, bytewise: () => bytewiseScan };
    for (let round = 0; round < 300; round += 1) {
      const json = Buffer.from(JSON.stringify(randomValue(prng, 4)));
      const windowBytes = prng.int(1, 200);
      const limit = prng.int(0, json.length + 10);
      const ends: Record<string, unknown> = {};
      for (const [name, scan] of Object.entries(scans)) {
        const scanner = new JsonScanner(bufferSource(json), windowBytes, scan);
        const first = await scanner.byteAt(0);
        ends[name] = {
          whole: await scanner.valueEnd(0),
          limited: first === 0x7b || first === 0x5b ? await scanner.containerEnd(0, limit) : undefined,
        };
        scanner.release();
      }
      expect(ends.simd).toEqual(ends.bytewise);
      expect((ends.simd as { whole: number }).whole).toBe(json.length);
    }
  });

  it('finds runs of array elements that end by a limit, never past the window, in random JSON', async () => {
    const prng = createPrng(13);
    const scans: Record<string, () => WindowScan> = { simd: windowScan, bytewise: () => bytewiseScan };
    for (let round = 0; round < 300; round += 1) {
      const elements = Array.from({ length: prng.int(1, 12) }, () => randomValue(prng, 2));
      const json = Buffer.from(JSON.stringify(elements));
      // Where each element starts and ends in JSON.stringify's bytes.
      const spans: [number, number][] = [];
      let at = 1;
      for (const element of elements) {
        const end = at + Buffer.byteLength(JSON.stringify(element));
        spans.push([at, end]);
        at = end + 1;
      }
      const from = prng.int(0, spans.length - 1);
      const start = spans[from]?.[0] ?? 0;
      const limit = start + prng.int(0, json.length);
      const fitting = spans.slice(from).findIndex(([, end]) => end > limit);
      const count = fitting === -1 ? spans.length - from : fitting;
      const expected = { count, end: count === 0 ? -1 : (spans[from + count - 1]?.[1] ?? -1) };
      for (const [name, scan] of Object.entries(scans)) {
        const whole = new JsonScanner(bufferSource(json), json.length, scan);
        expect(await whole.elementsUntil(start, limit), name).toEqual(expected);
        whole.release();
        // A smaller window cuts the run where it ends: a prefix of it, the rest left to the caller.
        const windowed = new JsonScanner(bufferSource(json), prng.int(1, 64), scan);
        const cut = await windowed.elementsUntil(start, limit);
        windowed.release();
        expect(cut.count, name).toBeLessThanOrEqual(count);
        expect(cut.end, name).toBe(cut.count === 0 ? -1 : spans[from + cut.count - 1]?.[1]);
      }
    }
  });

  it('stops a run of elements before anything but a comma, and past the end of the document', async () => {
    const scanner = new JsonScanner(bufferSource(Buffer.from('[1,"a" 2,3]')));
    expect(await scanner.elementsUntil(1, 100)).toEqual({ count: 2, end: 6 });
    expect(await scanner.elementsUntil(9, 100)).toEqual({ count: 1, end: 10 });
    expect(await scanner.elementsUntil(10, 100)).toEqual({ count: 0, end: -1 });
    expect(await scanner.elementsUntil(50, 100)).toEqual({ count: 0, end: -1 });
    scanner.release();
  });

  it('scans windows larger than its first memory, and a scan reused by the next scanner reads its own bytes', async () => {
    const json = Buffer.from(JSON.stringify(samplePayload({ seed: 3, targetBytes: 400_000 })));
    for (const windowBytes of [300_000, 64, 1024 * 1024]) {
      const scanner = new JsonScanner(bufferSource(json), windowBytes);
      expect(await scanner.valueEnd(0)).toBe(json.length);
      scanner.release();
    }
    const unterminated = new JsonScanner(bufferSource(Buffer.from('{"a": "b}')));
    await expect(unterminated.valueEnd(0)).rejects.toThrow(MalformedJsonError);
    unterminated.release();
  });
});
