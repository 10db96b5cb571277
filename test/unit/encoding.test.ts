import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { base64Decode, base64Encode } from '../../src/encoding/base64.ts';
import { decodeArchive } from '../../src/encoding/decode-archive.ts';
import { encodeJson, encodePayload } from '../../src/encoding/encode-payload.ts';
import { jsonChunks } from '../../src/encoding/json-chunks.ts';
import { IntegrityError } from '../../src/errors.ts';
import { createHash } from 'node:crypto';

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function encode(value: unknown, gzipLevel = 6) {
  return encodePayload(value, async (body, stats) => ({ body: await collect(body), stats: stats() }), {
    gzipLevel,
  });
}

const samples: [string, unknown][] = [
  ['a top-level array', [1, 'two', { three: [3] }, null, true]],
  ['an empty object and array', { a: {}, b: [], c: [[]] }],
  ['odd keys', JSON.parse('{"__proto__":{"x":1},"":"empty","constructor":2,"1":"int-like","b":3}')],
  ['unicode', { s: 'é 日本 🎉 \u2028\u2029 \ud800 \udc00x', [String.fromCharCode(0, 31)]: 'ctl' }],
  ['a primitive', 'just a string'],
  ['null', null],
  ['deep nesting', JSON.parse(`${'{"a":['.repeat(300)}1${']}'.repeat(300)}`)],
  [
    'recorded exchanges',
    {
      task: { id: 't' },
      http: {
        exchanges: Array.from({ length: 3_000 }, (_, i) => ({
          i,
          body: `<html>${'x'.repeat(i % 500)}</html>`,
        })),
      },
      logs: Array.from({ length: 1_000 }, (_, i) => `line ${i}`),
    },
  ],
];

describe('stringify stage', () => {
  it.each(samples)('is byte-identical to JSON.stringify for %s, streamed', (_name, value) => {
    const chunks = [...jsonChunks(value, 1024, 0)];
    expect(Buffer.concat(chunks).toString('utf8')).toBe(JSON.stringify(value));
  });

  it.each(samples)('is byte-identical to JSON.stringify for %s, stringified at once', (_name, value) => {
    const chunks = [...jsonChunks(value, 1024)];
    expect(chunks).toHaveLength(1);
    expect(chunks[0]?.toString('utf8')).toBe(JSON.stringify(value));
  });

  it('streams array elements in bounded chunks instead of one string', () => {
    const value = { exchanges: Array.from({ length: 2_000 }, (_, i) => ({ i, body: 'y'.repeat(1_000) })) };
    const chunks = [...jsonChunks(value, 64 * 1024)];
    expect(chunks.length).toBeGreaterThan(20);
    for (const chunk of chunks) expect(chunk.length).toBeLessThan(64 * 1024 + 2_000);
  });

  it('chooses by a known JSON length instead of estimating it, with the same bytes', () => {
    const value = { exchanges: Array.from({ length: 2_000 }, (_, i) => ({ i, body: 'y'.repeat(1_000) })) };
    const json = JSON.stringify(value);
    const streamed = [...jsonChunks(value, 64 * 1024, 1024 * 1024, json.length)];
    expect(streamed.length).toBeGreaterThan(20);
    const atOnce = [...jsonChunks(value, 64 * 1024, 4 * 1024 * 1024, json.length)];
    expect(atOnce).toHaveLength(1);
    expect(Buffer.concat(streamed).toString('utf8')).toBe(json);
    expect(atOnce[0]?.toString('utf8')).toBe(json);
  });
});

describe('base64 stage', () => {
  it('encodes across arbitrary chunk boundaries like Buffer does', async () => {
    const data = createHash('sha512').update('seed').digest();
    const bytes = Buffer.concat(Array.from({ length: 50 }, () => data));
    const pieces = [1, 2, 3, 4, 5, 7, 11, 13, 100, 1_000].map((size, index) =>
      bytes.subarray(index * 100, index * 100 + size),
    );
    const input = Buffer.concat(pieces);
    const encoded = await collect(base64Encode(Readable.from(pieces)));
    expect(encoded.toString('latin1')).toBe(input.toString('base64'));
    const decoded = await collect(base64Decode(Readable.from([encoded.subarray(0, 5), encoded.subarray(5)])));
    expect(decoded.equals(input)).toBe(true);
  });

  it('encodes chunks larger than one encoding piece, whatever their length mod 3', async () => {
    const block = createHash('sha512').update('large').digest();
    const bytes = Buffer.concat(Array.from({ length: 4_000 }, () => block));
    const pieces = [bytes.subarray(0, 100_001), bytes.subarray(100_001, 200_003), bytes.subarray(200_003)];
    const encoded = await collect(base64Encode(Readable.from(pieces)));
    expect(encoded.toString('latin1')).toBe(bytes.toString('base64'));
  });

  it('refuses text that is not base64', async () => {
    await expect(collect(base64Decode(Readable.from([Buffer.from('ab$d')])))).rejects.toThrow(/not base64/);
  });
});

describe('whole pipeline', () => {
  it.each(samples)('round-trips %s and reports sizes and digest', async (_name, value) => {
    const { body, stats } = await encode(value);
    const json = JSON.stringify(value);
    const gzip = Buffer.from(body.toString('latin1'), 'base64');
    expect(gunzipSync(gzip).toString('utf8')).toBe(json);
    expect(stats.jsonBytes).toBe(Buffer.byteLength(json));
    expect(stats.gzipBytes).toBe(gzip.length);
    expect(stats.base64Bytes).toBe(body.length);
    expect(stats.jsonSha256).toBe(createHash('sha256').update(json).digest('hex'));
    const decoded = await text(decodeArchive(Readable.from([body]), 'k', stats.jsonSha256));
    expect(decoded).toBe(json);
  });

  it('fails the decoded stream when the digest does not match', async () => {
    const { body } = await encode({ a: 1 });
    const decoded = text(decodeArchive(Readable.from([body]), 'the-key', '0'.repeat(64)));
    await expect(decoded).rejects.toBeInstanceOf(IntegrityError);
    await expect(decoded).rejects.toThrow(/the-key.*0000.*got [0-9a-f]{64}/);
  });

  it('rejects at once with the abort reason while the sink is stuck, and reads no further', async () => {
    const controller = new AbortController();
    let reads = 0;
    async function* source(): AsyncGenerator<Buffer, void, undefined> {
      for (;;) {
        reads += 1;
        yield await Promise.resolve(Buffer.alloc(600_000, 'a'));
      }
    }
    const encoding = encodeJson(
      source(),
      async (body) => {
        for await (const chunk of body) {
          expect(chunk.length).toBeGreaterThan(0);
          await new Promise(() => undefined);
        }
        return 0;
      },
      { gzipLevel: 1, signal: controller.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = reads;
    controller.abort(new Error('deadline'));
    await expect(encoding).rejects.toThrow('deadline');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reads).toBe(before);
  });

  it('closes the source when the sink gives up partway without closing what it read', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Buffer, void, undefined> {
      try {
        for (let i = 0; i < 100; i += 1) yield await Promise.resolve(Buffer.alloc(600_000, 'b'));
      } finally {
        closed = true;
      }
    }
    const encoding = encodeJson(
      source(),
      async (body) => {
        // As storeObject reads the first part: by hand, and a failure leaves the iterator open.
        const first: IteratorResult<Buffer> = await body[Symbol.asyncIterator]().next();
        throw new Error(`upload failed after ${first.done === true ? 0 : first.value.length} bytes`);
      },
      { gzipLevel: 1 },
    );
    await expect(encoding).rejects.toThrow('upload failed');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(true);
  });

  it('names a corrupted gzip layer', async () => {
    const garbage = Buffer.from(Buffer.from('not gzip at all').toString('base64'), 'latin1');
    await expect(text(decodeArchive(Readable.from([garbage]), 'bad-key', undefined))).rejects.toThrow(
      /bad-key is corrupt: its gzip layer/,
    );
  });
});
