import { describe, expect, it } from 'vitest';
import type { ByteSource } from '../../src/encoding/json-scanner.ts';
import { stepCache } from '../../src/consumer/step-cache.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { redactStoredJson } from '../../src/redaction/redact-stored-json.ts';
import { Redactor } from '../../src/redaction/redactor.ts';

function counted(bytes: Buffer): { source: ByteSource; reads: () => number } {
  let read = 0;
  return {
    source: {
      length: bytes.length,
      read: (start, end) => {
        read += end - start;
        return Promise.resolve(bytes.subarray(start, end));
      },
    },
    reads: () => read,
  };
}

async function redacted(source: ByteSource): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of redactStoredJson(source, new Redactor().pieces())) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

describe('stepCache', () => {
  it('reads each step of stored JSON redacted in steps once, where the search and the walk read it twice', async () => {
    const document = samplePayload({ seed: 9, targetBytes: 3_000_000 });
    const json = Buffer.from(JSON.stringify(document));
    const want = JSON.stringify(new Redactor().redactInPlace(structuredClone(document)).value);
    const plain = counted(json);
    expect(await redacted(plain.source)).toBe(want);
    expect(plain.reads()).toBeGreaterThan(1.5 * json.length);
    const cached = counted(json);
    expect(await redacted(stepCache(cached.source, 256 * 1024))).toBe(want);
    expect(cached.reads()).toBe(json.length);
  });

  it('gives views within a step and copies across steps, reads a step once for readers at once, and tries a failed step again', async () => {
    const bytes = Buffer.from('0123456789abcdef');
    let calls = 0;
    let failNext = false;
    const source = stepCache(
      {
        length: bytes.length,
        read: async (start, end) => {
          calls += 1;
          await new Promise((resolve) => setImmediate(resolve));
          if (failNext) {
            failNext = false;
            throw new Error('Redis went away');
          }
          return bytes.subarray(start, end);
        },
      },
      4,
      2,
    );
    const [a, b] = await Promise.all([source.read(0, 2), source.read(1, 4)]);
    expect([a.toString(), b.toString()]).toEqual(['01', '123']);
    expect(calls).toBe(1);
    expect((await source.read(2, 9)).toString()).toBe('2345678');
    expect(calls).toBe(3);
    expect(source.pieceEnd?.(9)).toBe(12);
    failNext = true;
    await expect(source.read(12, 16)).rejects.toThrow('Redis went away');
    expect((await source.read(12, 16)).toString()).toBe('cdef');
  });
});
