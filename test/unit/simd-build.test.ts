import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const folder = new URL('../../src/simd/', import.meta.url);
const sources = readdirSync(folder).filter((name) => name.endsWith('.c'));

describe('the committed WebAssembly', () => {
  it.each(sources)(
    'is built from %s as it is now (run scripts/build-wasm.sh after changing it)',
    async (source) => {
      const built = (await import(new URL(source.replace(/\.c$/, '-wasm.ts'), folder).href)) as {
        SOURCE_SHA256: string;
      };
      expect(built.SOURCE_SHA256).toBe(
        createHash('sha256')
          .update(readFileSync(new URL(source, folder)))
          .digest('hex'),
      );
    },
  );

  it('covers both modules', () => {
    expect(sources.sort()).toEqual(['json-scan.c', 'suspect-search.c']);
  });
});
