import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStoredJson, readStoredJson, StoredJsonChangedError } from '../../src/consumer/stored-json.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { loadDebugPayload } from '../../src/pull.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const guard = useLeakGuard();
const servers = useTestServers();
let client: Redis;

beforeAll(() => {
  client = new Redis(servers.redis.url);
});
afterAll(async () => {
  await client.quit();
});

async function drain(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

describe('stored JSON', () => {
  const bytes = Buffer.from(JSON.stringify(samplePayload({ targetBytes: 300_000, seed: 5 })));

  it('is read in steps, byte for byte, and a missing key is null', async () => {
    await client.set('stored:whole', bytes);
    const stored = await openStoredJson(client, 'stored:whole', { stepBytes: 64 * 1024 });
    if (stored === null) throw new Error('stored:whole was not written');
    expect(stored.bytes).toBe(bytes.length);
    expect((await drain(stored.chunks)).equals(bytes)).toBe(true);
    expect(await openStoredJson(client, 'stored:missing')).toBeNull();
  });

  it('is read whole in steps requested at once, characters split between steps intact', async () => {
    // Three-byte characters, so step boundaries fall inside them.
    const json = JSON.stringify({ text: '€'.repeat(100_000), ascii: 'x'.repeat(1_000) });
    await client.set('stored:utf8', json);
    expect(await readStoredJson(client, 'stored:utf8', { stepBytes: 64 * 1024 + 1 })).toBe(json);
    expect(await readStoredJson(client, 'stored:utf8')).toBe(json);
    expect(await readStoredJson(client, 'stored:missing')).toBeNull();
  });

  it('reads a payload of one step in one GETRANGE when its length is known, and what its key holds whatever the job says', async () => {
    await client.set('stored:known', bytes);
    const calls = async (command: string): Promise<number> => {
      const stats = await client.info('commandstats');
      return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    };
    const before = { strlen: await calls('strlen'), getrange: await calls('getrange') };
    const expectedBytes = bytes.length;
    expect(await readStoredJson(client, 'stored:known', { expectedBytes })).toBe(bytes.toString());
    const stored = await openStoredJson(client, 'stored:known', { expectedBytes });
    if (stored === null) throw new Error('stored:known was not written');
    expect(stored.bytes).toBe(bytes.length);
    expect((await drain(stored.chunks)).equals(bytes)).toBe(true);
    expect({ strlen: await calls('strlen'), getrange: await calls('getrange') }).toEqual({
      strlen: before.strlen,
      getrange: before.getrange + 2,
    });

    expect(await readStoredJson(client, 'stored:missing', { expectedBytes })).toBeNull();
    // What the key holds is read as it is, whatever the job says, as with its length read first:
    // fewer bytes in the one read, more read again after STRLEN.
    expect(await readStoredJson(client, 'stored:known', { expectedBytes: bytes.length + 1 })).toBe(
      bytes.toString(),
    );
    expect(await calls('strlen')).toBe(before.strlen);
    expect(await readStoredJson(client, 'stored:known', { expectedBytes: bytes.length - 1 })).toBe(
      bytes.toString(),
    );
    expect(await calls('strlen')).toBe(before.strlen + 1);
    // Larger than a step: its length is read first, as without one.
    expect(await readStoredJson(client, 'stored:known', { expectedBytes, stepBytes: 64 * 1024 })).toBe(
      bytes.toString(),
    );
    expect(await calls('strlen')).toBe(before.strlen + 2);
  });

  it('fails the read when the payload disappears while it is read, instead of archiving a part', async () => {
    await client.set('stored:vanishing', bytes);
    const stored = await openStoredJson(client, 'stored:vanishing', { stepBytes: 64 * 1024 });
    if (stored === null) throw new Error('stored:vanishing was not written');
    const read = async () => {
      for await (const chunk of stored.chunks) {
        expect(chunk.length).toBe(64 * 1024);
        await client.del('stored:vanishing');
      }
    };
    const failure = read();
    await expect(failure).rejects.toThrow(
      /stored:vanishing changed while it was read: 131072 of 3\d{5} bytes/,
    );
    await expect(failure).rejects.toBeInstanceOf(StoredJsonChangedError);
  });

  it('is archived as stored when the consumer has no redaction to do, across many steps and blocks', async () => {
    const queueName = uniqueQueueName('stored');
    const bucket = await servers.s3.createBucket();
    const payload = samplePayload({ targetBytes: 3_500_000, seed: 9 });
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
    const result = await producer.enqueue(payload, { taskId: 'stored-3mb' });
    if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
      redact: false,
    });
    await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
      what: 'the payload to be archived',
      timeoutMs: 20_000,
    });
    await consumer.close();
    await producer.close();
    // loadDebugPayload checks the JSON's length and SHA-256 against the object's metadata.
    const pulled = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
    expect(pulled.payload).toEqual(payload);
    expect(Number(pulled.metadata.jsonBytes)).toBe(Buffer.byteLength(JSON.stringify(payload)));
    expect(pulled.metadata.redaction).toBe('off');
  });

  it('is parsed for redaction within the byte budget: payloads over it archive one at a time, none waits forever', async () => {
    const queueName = uniqueQueueName('budget');
    const bucket = await servers.s3.createBucket();
    const payloads = Array.from({ length: 4 }, (_, i) => ({
      ...samplePayload({ targetBytes: 1_500_000, seed: 20 + i }),
      headers: { Authorization: 'Bearer budget-secret' },
    }));
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
    const results = [];
    for (const [i, payload] of payloads.entries()) {
      const result = await producer.enqueue(payload, { taskId: `budget-${i}` });
      if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
      results.push(result);
    }
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
      concurrency: 4,
      maxRedactingBytes: 1024 * 1024,
    });
    await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
      what: 'every payload to be archived',
      timeoutMs: 30_000,
    });
    await consumer.close();
    await producer.close();
    for (const result of results) {
      const pulled = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
      expect(JSON.stringify(pulled.payload)).not.toContain('budget-secret');
    }
  });
});
