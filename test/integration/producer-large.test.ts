import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { AdmissionLedger } from '../../src/admission-ledger.ts';
import { defaults } from '../../src/config.ts';
import { INCREMENTAL_THRESHOLD_CHARS } from '../../src/producer/producer.ts';
import { waitFor } from '../support/wait.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { useTestRedis, uniqueQueueName } from '../support/servers.ts';

const MiB = 1024 * 1024;

/** Reservation options with room for every payload these tests store by hand. */
const options = {
  maxQueued: 10,
  maxQueuedBytes: 100 * MiB,
  policy: 'drop-newest',
  outcome: 'unknown',
} as const;

/** A payload over the incremental threshold, with values whose JSON has rules of its own. */
function largePayload(tag: string): Record<string, unknown> {
  return {
    tag,
    at: new Date(0),
    skipped: undefined,
    fn: () => 1,
    text: 'é🎉\u2028',
    exchanges: Array.from({ length: 60 }, (_, index) => ({
      index,
      body: `<p>${String(index)}</p>`.repeat(3_000),
      headers: { 'set-cookie': undefined, accept: 'text/html' },
      list: [undefined, 1, { toJSON: (key: string) => `element ${key}` }],
    })),
  };
}

describe('large payloads (the incremental path)', () => {
  const servers = useTestRedis();
  const guard = useLeakGuard();

  it('stores exactly JSON.stringify of a payload over the threshold, and nothing partial', async () => {
    const queueName = uniqueQueueName('large');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxPayloadBytes: 16 * MiB });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const payload = largePayload('large');
      const json = JSON.stringify(payload);
      expect(json.length).toBeGreaterThan(INCREMENTAL_THRESHOLD_CHARS);
      const result = await producer.enqueue(payload, { taskId: 'large' });
      if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
      expect(await inspector.ledger.readPayload(result.payloadId)).toBe(json);
      expect(await inspector.redis.exists(inspector.ledger.partialKey(result.payloadId))).toBe(0);
      expect(await inspector.redis.ttl(inspector.ledger.payloadKey(result.payloadId))).toBe(-1);
      expect(await inspector.usage()).toEqual({ payloads: 1, bytes: Buffer.byteLength(json) });
      expect((await inspector.counts()).waiting).toBe(1);
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('serialises concurrent large payloads one after the other, in call order', async () => {
    const queueName = uniqueQueueName('large-order');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxPayloadBytes: 16 * MiB });
    const inspector = guard.inspector(servers.redis.url, queueName);
    const reads: string[] = [];
    /** A large payload that logs when serialisation reads its first and its last member. */
    const traced = (tag: string): Record<string, unknown> => ({
      get first(): string {
        reads.push(`${tag} first`);
        return tag;
      },
      ...largePayload(tag),
      get last(): string {
        reads.push(`${tag} last`);
        return tag;
      },
    });
    try {
      const results = await Promise.all(
        ['a', 'b', 'c'].map((tag) => producer.enqueue(traced(tag), { taskId: tag })),
      );
      expect(results.map((result) => result.status)).toEqual(['queued', 'queued', 'queued']);
      // Each enqueue's estimate walk reads these getters at call time, before any serialisation;
      // the last read of each is its serialisation's. Interleaved, b would start before a ends.
      const at = (read: string): number => reads.lastIndexOf(read);
      const sequence = ['a first', 'a last', 'b first', 'b last', 'c first', 'c last'].map(at);
      expect(sequence.every((index) => index >= 0)).toBe(true);
      expect([...sequence].sort((x, y) => x - y)).toEqual(sequence);
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('counts large payloads against maxInFlightBytes while they are serialised', async () => {
    const queueName = uniqueQueueName('large-busy');
    const payloadBytes = Buffer.byteLength(JSON.stringify({ ...largePayload('x'), last: 'x' }));
    const maxInFlightBytes = Math.round(payloadBytes * 1.5);
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxPayloadBytes: 16 * MiB,
      maxInFlightBytes,
    });
    const inspector = guard.inspector(servers.redis.url, queueName);
    let highest = 0;
    let sampling = true;
    const sample = (): void => {
      highest = Math.max(highest, producer.stats().inFlightBytes);
      if (sampling) setImmediate(sample);
    };
    /** What the producer counts as held whenever a payload's last member is read. */
    const heldAtLast: { tag: string; held: number }[] = [];
    const probed = (tag: string): Record<string, unknown> => ({
      ...largePayload(tag),
      get last(): string {
        heldAtLast.push({ tag, held: producer.stats().inFlightBytes });
        return tag;
      },
    });
    try {
      sample();
      const payloads = ['a', 'b', 'c', 'd'].map((tag) => probed(tag));
      const results = await Promise.all(
        payloads.map((payload, i) => producer.enqueue(payload, { taskId: `t${i}` })),
      );
      sampling = false;
      // Counted while being made, not only once made and sent: the last read of `a` is its
      // serialisation's (the estimate walk reads it at call time), and `a` goes first.
      const heldByA = heldAtLast.filter((read) => read.tag === 'a').at(-1)?.held ?? 0;
      expect(heldByA).toBeGreaterThan(payloadBytes / 2);
      expect(highest).toBeGreaterThan(0);
      expect(highest).toBeLessThanOrEqual(maxInFlightBytes);
      const queued = results.flatMap((result, i) => (result.status === 'queued' ? [{ result, i }] : []));
      expect(queued.length).toBeGreaterThan(0);
      for (const result of results) {
        if (result.status === 'dropped') expect(result.reason).toBe('producer_busy');
      }
      for (const { result, i } of queued) {
        expect(await inspector.ledger.readPayload(result.payloadId)).toBe(JSON.stringify(payloads[i]));
      }
      expect(producer.stats().inFlightBytes).toBe(0);
      expect(await inspector.usage()).toEqual({
        payloads: queued.length,
        bytes: queued.length * payloadBytes,
      });
    } finally {
      sampling = false;
      await producer.close();
      await inspector.close();
    }
  });

  function cyclic(): unknown {
    const node: Record<string, unknown> = { name: 'loop' };
    node.self = { parent: node };
    return node;
  }

  it.each([
    ['a cycle', cyclic()],
    ['a BigInt', 10n ** 30n],
    [
      'a throwing getter',
      {
        get broken(): never {
          throw new Error('getter exploded');
        },
      },
    ],
  ])('drops as not_serializable a large payload holding %s, leaving nothing in Redis', async (_name, bad) => {
    const queueName = uniqueQueueName('large-hostile');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxPayloadBytes: 16 * MiB });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const payload = largePayload('hostile');
      (payload.exchanges as Record<string, unknown>[]).push({ bad });
      expect(await producer.enqueue(payload, { taskId: 'hostile' })).toEqual({
        status: 'dropped',
        reason: 'not_serializable',
      });
      expect(producer.stats().dropped.not_serializable).toBe(1);
      expect(producer.stats().inFlightBytes).toBe(0);
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
      expect(await inspector.redis.keys(`${inspector.prefix}:${queueName}:payload:*`)).toEqual([]);
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('drops a large payload over maxPayloadBytes as payload_too_large', async () => {
    const queueName = uniqueQueueName('large-too-large');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxPayloadBytes: 2 * MiB });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const payload = { chunks: Array.from({ length: 40 }, (_, index) => 'z'.repeat(100_000 + index)) };
      expect(await producer.enqueue(payload, { taskId: 'big' })).toEqual({
        status: 'dropped',
        reason: 'payload_too_large',
      });
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('refuses a large payload under a full queue before sending its bytes', async () => {
    const queueName = uniqueQueueName('large-full');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued: 1 });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const first = await producer.enqueue({ small: true }, { taskId: 'first' });
      if (first.status !== 'queued') throw new Error('the first payload was dropped');
      expect(await producer.enqueue(largePayload('full'), { taskId: 'full' })).toEqual({
        status: 'dropped',
        reason: 'queue_full',
      });
      expect(await inspector.redis.keys(`${inspector.prefix}:${queueName}:payload:*`)).toEqual([
        inspector.ledger.payloadKey(first.payloadId),
      ]);
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('commits a stored payload only while admitted and complete; release deletes partial bytes', async () => {
    const queueName = uniqueQueueName('large-commit');
    const inspector = guard.inspector(servers.redis.url, queueName);
    const { ledger } = inspector;
    const chunks = [Buffer.alloc(MiB, 'a'), Buffer.alloc(MiB, 'b'), Buffer.from('c')];
    const bytes = 2 * MiB + 1;
    try {
      // Complete and admitted: committed under the payload key, no TTL, no partial key.
      expect((await ledger.reserve('complete', bytes, options)).admitted).toBe(true);
      expect(await ledger.storeChunks('complete', chunks, bytes)).toBe('stored');
      expect((await ledger.readPayload('complete'))?.length).toBe(bytes);
      expect(await inspector.redis.exists(ledger.partialKey('complete'))).toBe(0);

      // A write that lost bytes (the partial key expired mid-write) is never committed.
      expect((await ledger.reserve('short', bytes, options)).admitted).toBe(true);
      expect(await ledger.storeChunks('short', chunks.slice(1), bytes)).toBe('incomplete');
      expect(await ledger.readPayload('short')).toBeNull();
      expect(await inspector.redis.exists(ledger.partialKey('short'))).toBe(0);
      expect(await ledger.release('short')).toBe(true);

      // The partial key gone mid-write (as if it expired): a later chunk finds no key to
      // refresh, so the write is incomplete, whatever length the rest would have made.
      const many = Array.from({ length: 24 }, (_, i) => Buffer.alloc(MiB, 97 + (i % 26)));
      expect((await ledger.reserve('vanished', 24 * MiB, options)).admitted).toBe(true);
      const storing = ledger.storeChunks('vanished', many, 24 * MiB);
      await waitFor(
        async () => (await inspector.redis.exists(ledger.partialKey('vanished'))) === 1 || undefined,
        {
          what: 'the first chunk to land',
          timeoutMs: 10_000,
          intervalMs: 1,
        },
      );
      await inspector.redis.del(ledger.partialKey('vanished'));
      expect(await storing).toBe('incomplete');
      expect(await ledger.readPayload('vanished')).toBeNull();
      expect(await inspector.redis.exists(ledger.partialKey('vanished'))).toBe(0);
      expect(await ledger.release('vanished')).toBe(true);

      // Released (evicted) mid-write: the commit keeps nothing.
      expect((await ledger.reserve('evicted', bytes, options)).admitted).toBe(true);
      await inspector.redis.set(ledger.partialKey('evicted'), 'partial', 'PX', 60_000);
      expect(await ledger.release('evicted')).toBe(true);
      expect(await inspector.redis.exists(ledger.partialKey('evicted'))).toBe(0);
      expect(await ledger.storeChunks('evicted', chunks, bytes)).toBe('evicted');
      expect(await inspector.redis.exists(ledger.partialKey('evicted'), ledger.payloadKey('evicted'))).toBe(
        0,
      );

      // A partial key left by a producer that died mid-write expires.
      await inspector.redis.set(ledger.partialKey('dead'), 'partial', 'PX', 60_000);
      expect(await inspector.redis.pttl(ledger.partialKey('dead'))).toBeGreaterThan(0);

      expect(await ledger.release('complete')).toBe(true);
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
    } finally {
      await inspector.close();
    }
  });

  it('never commits a payload whose partial key went between the refresh and the write of a chunk', async () => {
    const queueName = uniqueQueueName('large-gone');
    const inspector = guard.inspector(servers.redis.url, queueName);
    const client = new Redis(servers.redis.url, { maxRetriesPerRequest: 1 });
    const ledger = new AdmissionLedger(client, defaults.redisPrefix, queueName);
    const chunks = [Buffer.alloc(MiB, 'a'), Buffer.alloc(MiB, 'b'), Buffer.alloc(MiB, 'c')];
    const bytes = 3 * MiB;
    const pexpire = client.pexpire.bind(client);
    let refreshes = 0;
    let goneAt = -1;
    // The partial key deleted (as eviction or a release would) right after a chunk's PEXPIRE
    // and before its SETRANGE, in one script on the same connection, so nothing is reordered:
    // the SETRANGE makes the key anew, zeros up to it and no TTL, and the next chunk's PEXPIRE
    // finds a key again.
    vi.spyOn(client, 'pexpire').mockImplementation(async (key, milliseconds) => {
      refreshes += 1;
      if (refreshes !== goneAt) return pexpire(key, milliseconds);
      const refreshedThenGone = await client.eval(
        "redis.call('PEXPIRE', KEYS[1], ARGV[1]) return redis.call('DEL', KEYS[1])",
        1,
        key,
        milliseconds,
      );
      return refreshedThenGone as number;
    });
    try {
      // The second chunk's PEXPIRE is the first (the first chunk SETs), the third's the second.
      for (const [id, at] of [
        ['gone-mid', 1],
        ['gone-last', 2],
      ] as const) {
        refreshes = 0;
        goneAt = at;
        expect((await ledger.reserve(id, bytes, options)).admitted).toBe(true);
        // Mid-write, the key made anew is short of `bytes`; at the last chunk it is not, and
        // only its missing TTL tells it from the payload.
        expect(await ledger.storeChunks(id, chunks, bytes)).toBe('incomplete');
        expect(await ledger.readPayload(id)).toBeNull();
        expect(await inspector.redis.exists(ledger.partialKey(id))).toBe(0);
        expect(await ledger.release(id)).toBe(true);
      }
      goneAt = -1;
      expect((await ledger.reserve('kept', bytes, options)).admitted).toBe(true);
      expect(await ledger.storeChunks('kept', chunks, bytes)).toBe('stored');
      expect(await ledger.readPayload('kept')).toBe(Buffer.concat(chunks).toString());
      expect(await ledger.release('kept')).toBe(true);
    } finally {
      vi.restoreAllMocks();
      client.disconnect();
      await inspector.close();
    }
  });
});
