import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DeflateRaw, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { encodeJson, encodePayload } from '../../src/encoding/encode-payload.ts';
import { parallelGzip } from '../../src/encoding/parallel-gzip.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';

async function gzipOf(
  blocks: Iterable<Buffer> | AsyncIterable<Buffer>,
  level = 6,
  parallelism = 2,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of parallelGzip(blocks, { level, parallelism })) parts.push(part);
  return Buffer.concat(parts);
}

function slices(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i += 1) {
    const size = sizes[i % sizes.length] ?? bytes.length;
    out.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

const json = Buffer.from(JSON.stringify(samplePayload({ targetBytes: 3_000_000, seed: 3 })));

describe('parallelGzip', () => {
  it.each([1, 6, 9])('gives back the exact bytes at level %i, whatever the block sizes', async (level) => {
    for (const sizes of [[512 * 1024], [1000, 70_000, 5, 40_000], [300_000, 0, 1]]) {
      const gzip = await gzipOf(slices(json, sizes), level);
      expect(gunzipSync(gzip).equals(json)).toBe(true);
    }
  });

  it('writes one gzip member that the gzip tool reads, as small as single-threaded gzip within 1%', async () => {
    const gzip = await gzipOf(slices(json, [512 * 1024]), 6, 3);
    const tool = spawnSync('gzip', ['-d', '-c'], { input: gzip, maxBuffer: 64 * 1024 * 1024 });
    expect(tool.status).toBe(0);
    expect(tool.stdout.equals(json)).toBe(true);
    // The trailer of the one member holds the length of the whole input.
    expect(gzip.readUInt32LE(gzip.length - 4)).toBe(json.length);
    expect(gzip.length / gzipSync(json, { level: 6 }).length).toBeLessThan(1.01);
  });

  it('hands every input block to onBlock once, in order, on the parallel and the one-block path', async () => {
    for (const input of [json, json.subarray(0, 100_000)]) {
      const seen: Buffer[] = [];
      const parts: Buffer[] = [];
      for await (const part of parallelGzip(slices(input, [700_000, 3]), {
        level: 1,
        parallelism: 2,
        onBlock: (block) => seen.push(Buffer.from(block)),
      }))
        parts.push(part);
      expect(Buffer.concat(seen).equals(input)).toBe(true);
      expect(gunzipSync(Buffer.concat(parts)).equals(input)).toBe(true);
    }
  });

  it('gzips empty input and a single block as plain gzip does', async () => {
    expect(gunzipSync(await gzipOf([])).length).toBe(0);
    expect(gunzipSync(await gzipOf([Buffer.alloc(0), Buffer.alloc(0)])).length).toBe(0);
    const small = json.subarray(0, 10_000);
    expect(await gzipOf([small])).toEqual(gzipSync(small, { level: 6 }));
  });

  it.each([
    [1, 96 * 1024],
    [6, 48 * 1024],
  ])(
    'at level %i cuts a lone block of %i bytes or more in two, one half on the pool',
    async (level, from) => {
      const below = json.subarray(0, from - 1);
      expect(await gzipOf([below], level)).toEqual(gzipSync(below, { level }));
      const parts: Buffer[] = [];
      for await (const part of parallelGzip([json.subarray(0, from)], { level, parallelism: 2 }))
        parts.push(part);
      expect(parts.length).toBe(3);
      expect(gunzipSync(Buffer.concat(parts)).equals(json.subarray(0, from))).toBe(true);
    },
  );

  it('gives back bytes that do not compress, whose deflate outgrows its output buffer', async () => {
    const noise = randomBytes(1_300_000);
    for (const sizes of [[noise.length], [512 * 1024], [200_000]]) {
      const gzip = await gzipOf(slices(noise, sizes), 6);
      expect(gunzipSync(gzip).equals(noise)).toBe(true);
    }
  });

  it.each([1, 6])(
    'cuts a lone block in two at level %i, one half on the pool, as the gzip tool reads it',
    async (level) => {
      const lone = json.subarray(0, 300_000);
      const seen: Buffer[] = [];
      const parts: Buffer[] = [];
      for await (const part of parallelGzip([lone], {
        level,
        parallelism: 2,
        onBlock: (block) => seen.push(block),
      })) {
        parts.push(part);
      }
      const gzip = Buffer.concat(parts);
      expect(parts.length).toBe(3);
      expect(Buffer.concat(seen).equals(lone)).toBe(true);
      const tool = spawnSync('gzip', ['-d', '-c'], { input: gzip });
      expect(tool.status).toBe(0);
      expect(tool.stdout.equals(lone)).toBe(true);
      expect(gzip.length / gzipSync(lone, { level }).length).toBeLessThan(1.01);
      // One lane: no pool, plain gzip.
      expect(await gzipOf([lone], level, 1)).toEqual(gzipSync(lone, { level }));
    },
  );

  it('gives back the exact bytes whatever size it is told to expect', async () => {
    const input = json.subarray(0, 1_500_000);
    for (const sizes of [[512 * 1024], [65_536], [1000, 70_000, 5, 300_000], [input.length]]) {
      for (const expectedBytes of [undefined, input.length, input.length / 2, input.length * 2, 0, 1]) {
        const parts: Buffer[] = [];
        const seen: Buffer[] = [];
        for await (const part of parallelGzip(slices(input, sizes), {
          level: 6,
          parallelism: 2,
          expectedBytes,
          onBlock: (block) => seen.push(block),
        }))
          parts.push(part);
        expect(gunzipSync(Buffer.concat(parts)).equals(input)).toBe(true);
        expect(Buffer.concat(seen).equals(input)).toBe(true);
      }
    }
  });

  it('holds a bounded number of blocks, whatever size it is told to expect', async () => {
    const blocks = 16;
    for (const expectedBytes of [undefined, 0, 1, 512 * 1024, blocks * 512 * 1024]) {
      let pulled = 0;
      function* source(): Generator<Buffer, void, undefined> {
        for (let i = 0; i < blocks; i += 1) {
          pulled += 1;
          yield json.subarray(i * 100_000, i * 100_000 + 512 * 1024);
        }
      }
      let out = 0;
      let most = 0;
      for await (const part of parallelGzip(source(), { level: 1, parallelism: 2, expectedBytes })) {
        if (part.length > 10) out += 1;
        most = Math.max(most, pulled - out);
      }
      // In flight on the pool (parallelism, one queued, one more near the end) and one held back.
      expect(most, `told ${String(expectedBytes)}`).toBeLessThanOrEqual(2 + 3);
    }
  });

  it('told the size to expect, reads the last block while the pool compresses the others', async () => {
    const input = json.subarray(0, 1024 * 1024);
    const outAtLast: number[] = [];
    let out = 0;
    function* redacting(): Generator<Buffer, void, undefined> {
      for (let i = 0; i < 4; i += 1) {
        if (i === 3) outAtLast.push(out);
        yield input.subarray(i * 256 * 1024, (i + 1) * 256 * 1024);
      }
    }
    const parts: Buffer[] = [];
    for await (const part of parallelGzip(redacting(), {
      level: 6,
      parallelism: 2,
      expectedBytes: input.length,
    })) {
      parts.push(part);
      out += 1;
    }
    // Only the header was out: no compressed block had come back from the pool yet.
    expect(outAtLast).toEqual([1]);
    expect(gunzipSync(Buffer.concat(parts)).equals(input)).toBe(true);
  });

  it('told the size to expect, starts a first block short of it at once and ends with the last one here', async () => {
    const input = json.subarray(0, 100_000);
    const started: number[] = [];
    const seen: Buffer[] = [];
    function* redacting(): Generator<Buffer, void, undefined> {
      yield input.subarray(0, 64 * 1024);
      // What a redaction on this thread would do next happens after the first block left.
      started.push(seen.length);
      yield input.subarray(64 * 1024);
    }
    const run = async (expectedBytes: number | undefined) => {
      seen.length = 0;
      started.length = 0;
      const parts: Buffer[] = [];
      for await (const part of parallelGzip(redacting(), {
        level: 6,
        parallelism: 2,
        expectedBytes,
        onBlock: (block) => seen.push(block),
      }))
        parts.push(part);
      return parts;
    };

    const told = await run(input.length);
    expect(started).toEqual([1]);
    // Header, the first block's deflate, then the last block's deflate with the trailer.
    expect(told).toHaveLength(3);
    expect(told[2]?.length).toBeGreaterThan(1000);
    const tool = spawnSync('gzip', ['-d', '-c'], { input: Buffer.concat(told) });
    expect(tool.status).toBe(0);
    expect(tool.stdout.equals(input)).toBe(true);
    expect(Buffer.concat(told).length / gzipSync(input, { level: 6 }).length).toBeLessThan(1.01);

    // Not told, a small first block waits: it might be all there is.
    const untold = await run(undefined);
    expect(started).toEqual([0]);
    expect(gunzipSync(Buffer.concat(untold)).equals(input)).toBe(true);
  });

  it('closes every zlib stream it opens on the pool, once its block is compressed', async () => {
    const closes = vi.spyOn(DeflateRaw.prototype, 'close');
    try {
      const input = json.subarray(0, 3 * 512 * 1024 + 1000);
      const parts: Buffer[] = [];
      for await (const part of parallelGzip(slices(input, [512 * 1024]), { level: 1, parallelism: 2 })) {
        parts.push(part);
      }
      expect(gunzipSync(Buffer.concat(parts)).equals(input)).toBe(true);
      // Closed a tick after each block's write returns, not inside its callback.
      await new Promise((resolve) => setImmediate(resolve));
      // Not told the size, every block goes to the pool as it comes, the last 1000 bytes too.
      expect(closes).toHaveBeenCalledTimes(4);
      for (const { value } of closes.mock.results) expect(value).toBeUndefined();
    } finally {
      closes.mockRestore();
    }
  });

  it('reads blocks from an async source and stops it when the reader stops', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Buffer, void, undefined> {
      try {
        for await (const block of Readable.from(slices(json, [256 * 1024]), { objectMode: true })) {
          yield block as Buffer;
        }
      } finally {
        closed = true;
      }
    }
    for await (const part of parallelGzip(source(), { level: 1, parallelism: 2 })) {
      expect(part.length).toBeGreaterThan(0);
      break;
    }
    expect(closed).toBe(true);
  });
});

describe('encodeJson', () => {
  it('archives stored JSON bytes as encodePayload archives the value they came from', async () => {
    const collect = async (body: AsyncIterable<Buffer>, stats: () => unknown) => {
      const parts: Buffer[] = [];
      for await (const part of body) parts.push(part);
      return { body: Buffer.concat(parts), stats: stats() };
    };
    const value = JSON.parse(json.toString()) as unknown;
    const fromValue = await encodePayload(value, collect, { gzipLevel: 6 });
    const fromBytes = await encodeJson(slices(json, [1024 * 1024]), collect, { gzipLevel: 6 });
    expect(fromBytes.stats).toEqual(expect.objectContaining({ jsonBytes: json.length }));
    expect((fromBytes.stats as { jsonSha256: string }).jsonSha256).toBe(
      (fromValue.stats as { jsonSha256: string }).jsonSha256,
    );
    const decode = (body: Buffer) => gunzipSync(Buffer.from(body.toString('latin1'), 'base64'));
    expect(decode(fromBytes.body).equals(json)).toBe(true);
    expect(decode(fromValue.body).equals(json)).toBe(true);
  });
});
