import { describe, expect, it } from 'vitest';
import type { DropReason } from '../../src/producer/producer.ts';
import type { BurstResult } from '../support/burst-protocol.ts';
import { burst } from '../support/burst.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { exactSizePayload } from '../support/payloads.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const CHILDREN = 3;
const ENQUEUES_PER_CHILD = 200;

function sum(results: readonly BurstResult[], pick: (result: BurstResult) => number): number {
  return results.reduce((total, result) => total + pick(result), 0);
}

function dropReasons(results: readonly BurstResult[]): Set<DropReason> {
  return new Set(results.flatMap((result) => Object.keys(result.dropped) as DropReason[]));
}

describe('the hard bound across producer processes', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  async function drainAndCheckFreed(queueName: string, admitted: number, enqueueAgain: () => Promise<void>) {
    const bucket = await servers.s3.createBucket();
    const inspector = guard.inspector(servers.redis.url, queueName);
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
      concurrency: 8,
    });
    try {
      await waitFor(
        async () => {
          const counts = await inspector.counts();
          if ((counts.failed ?? 0) > 0) throw new Error('an archive job failed');
          return (await inspector.usage()).payloads === 0 ? true : undefined;
        },
        { what: 'the consumer to drain the queue', timeoutMs: 30_000 },
      );
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
      expect(await listPayloadKeys(servers.s3.client, bucket)).toHaveLength(admitted);
      await enqueueAgain();
    } finally {
      await consumer.close();
      await inspector.close();
    }
  }

  it('admits exactly maxQueued payloads when processes race for the last places', async () => {
    const queueName = uniqueQueueName('bound-count');
    const maxQueued = 25;
    const payloadBytes = 600;
    const results = await burst(
      guard,
      Array.from({ length: CHILDREN }, (_, index) => ({
        redisUrl: servers.redis.url,
        queueName,
        tag: `child${index}`,
        count: ENQUEUES_PER_CHILD,
        payloadBytes,
        maxQueued,
        enqueueTimeoutMs: 10_000,
      })),
    );

    expect(sum(results, (result) => result.rejected)).toBe(0);
    expect(sum(results, (result) => result.queued)).toBe(maxQueued);
    expect(sum(results, (result) => result.dropped.queue_full ?? 0)).toBe(
      CHILDREN * ENQUEUES_PER_CHILD - maxQueued,
    );
    expect(dropReasons(results)).toEqual(new Set(['queue_full']));

    const inspector = guard.inspector(servers.redis.url, queueName);
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued });
    try {
      expect(await inspector.usage()).toEqual({ payloads: maxQueued, bytes: maxQueued * payloadBytes });
      const counts = await inspector.counts();
      expect(counts.waiting).toBe(maxQueued);
      expect((counts.active ?? 0) + (counts.delayed ?? 0) + (counts.failed ?? 0)).toBe(0);
      // No room for one more, from this process either.
      expect(await producer.enqueue(exactSizePayload(payloadBytes, 'late', 0), { taskId: 'late' })).toEqual({
        status: 'dropped',
        reason: 'queue_full',
      });

      await drainAndCheckFreed(queueName, maxQueued, async () => {
        const again = await Promise.all(
          Array.from({ length: maxQueued }, (_, index) =>
            producer.enqueue(exactSizePayload(payloadBytes, 'again', index), { taskId: `again-${index}` }),
          ),
        );
        expect(again.map((result) => result.status)).toEqual(Array<string>(maxQueued).fill('queued'));
      });
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('never admits more than maxQueuedBytes when processes race for the last bytes', async () => {
    const queueName = uniqueQueueName('bound-bytes');
    const maxQueuedBytes = 64 * 1024;
    const sizes = [3_000, 3_100, 3_300];
    const results = await burst(
      guard,
      sizes.map((payloadBytes, index) => ({
        redisUrl: servers.redis.url,
        queueName,
        tag: `child${index}`,
        count: ENQUEUES_PER_CHILD,
        payloadBytes,
        maxQueuedBytes,
        maxPayloadBytes: 8 * 1024,
        enqueueTimeoutMs: 10_000,
      })),
    );

    const queued = sum(results, (result) => result.queued);
    const queuedBytes = sum(results, (result) => result.queuedBytes);
    expect(sum(results, (result) => result.rejected)).toBe(0);
    expect(queuedBytes).toBeLessThanOrEqual(maxQueuedBytes);
    // No more could fit: even the smallest payload would pass the bound.
    expect(maxQueuedBytes - queuedBytes).toBeLessThan(Math.min(...sizes));
    expect(sum(results, (result) => result.dropped.queue_bytes_full ?? 0)).toBe(
      sizes.length * ENQUEUES_PER_CHILD - queued,
    );
    expect(dropReasons(results)).toEqual(new Set(['queue_bytes_full']));

    const inspector = guard.inspector(servers.redis.url, queueName);
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxQueuedBytes,
      maxPayloadBytes: 8 * 1024,
    });
    try {
      expect(await inspector.usage()).toEqual({ payloads: queued, bytes: queuedBytes });
      expect((await inspector.counts()).waiting).toBe(queued);
      const smallest = Math.min(...sizes);
      expect(await producer.enqueue(exactSizePayload(smallest, 'late', 0), { taskId: 'late' })).toEqual({
        status: 'dropped',
        reason: 'queue_bytes_full',
      });

      await drainAndCheckFreed(queueName, queued, async () => {
        const again = await producer.enqueue(exactSizePayload(smallest, 'again', 0), { taskId: 'again' });
        expect(again.status).toBe('queued');
      });
    } finally {
      await producer.close();
      await inspector.close();
    }
  });
});
