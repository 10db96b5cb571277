import { createIORedisClient, Job, Queue } from 'bullmq';
import { Registry } from 'prom-client';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BurstConfig } from '../support/burst-protocol.ts';
import { burst } from '../support/burst.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { exactSizePayload } from '../support/payloads.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';
import { AdmissionLedger } from '../../src/admission-ledger.ts';
import { INCREMENTAL_THRESHOLD_CHARS } from '../../src/producer/producer.ts';
import { createProducerRedis } from '../../src/redis-client.ts';

const guard = useLeakGuard();
const servers = useTestServers();

const payload = (index: number, bytes = 1_000) => exactSizePayload(bytes, 'p', index);

async function waitingIds(queueName: string): Promise<string[]> {
  const inspector = guard.inspector(servers.redis.url, queueName);
  try {
    const jobs = await inspector.queue.getWaiting();
    return jobs.map((job) => String(job.id)).sort();
  } finally {
    await inspector.close();
  }
}

describe('admission policies', () => {
  it('drop-newest (the default) refuses the newcomer and keeps what waits', async () => {
    const queueName = uniqueQueueName('drop-newest');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued: 2 });
    const results = [];
    for (let index = 0; index < 4; index += 1)
      results.push(await producer.enqueue(payload(index), { taskId: `t${index}` }));
    expect(results.map((result) => result.status)).toEqual(['queued', 'queued', 'dropped', 'dropped']);
    expect(producer.stats().evicted).toBe(0);
    await producer.close();
  });

  it('stores a small payload and adds its job in one round trip, and adds none for one it refuses', async () => {
    const queueName = uniqueQueueName('one-trip');
    const redis = createProducerRedis(servers.redis.url, 2_000);
    const producer = guard.producer({ redis, queueName, maxQueued: 3 });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      // The first enqueue makes the BullMQ Queue and loads the scripts.
      const first = await producer.enqueue(payload(0), { taskId: 't0' });
      // A round trip: writes to Redis with no reply read in between.
      let trips = 0;
      let replied = true;
      const write = redis.stream.write.bind(redis.stream);
      redis.stream.write = ((...args: Parameters<typeof write>) => {
        if (replied) trips += 1;
        replied = false;
        return write(...args);
      }) as typeof redis.stream.write;
      redis.stream.prependListener('data', () => {
        replied = true;
      });
      const results = [];
      const tripsPerEnqueue = [];
      for (let index = 1; index < 4; index += 1) {
        trips = 0;
        results.push(await producer.enqueue(payload(index), { taskId: `t${index}` }));
        tripsPerEnqueue.push(trips);
      }
      expect([first, ...results].map((result) => result.status)).toEqual([
        'queued',
        'queued',
        'queued',
        'dropped',
      ]);
      // The refused one's second trip deletes the key that made BullMQ skip its add.
      expect(tripsPerEnqueue).toEqual([1, 1, 2]);
      const queued = [first, ...results].flatMap((result) =>
        result.status === 'queued' ? [result.payloadId] : [],
      );
      expect(await waitingIds(queueName)).toEqual(queued.sort());
      expect(await inspector.usage()).toEqual({ payloads: 3, bytes: 3_000 });
      // The key that made BullMQ skip the refused payload's add is gone; an added job's own
      // (BullMQ's deduplication key) lives 1 ms.
      await delay(5);
      expect(await inspector.redis.keys(`${inspector.prefix}:${queueName}:de:*`)).toEqual([]);
    } finally {
      await inspector.close();
      await producer.close();
      redis.disconnect();
    }
  });

  it('adds a job only for a stored payload when Redis has forgotten the scripts (SCRIPT FLUSH)', async () => {
    const queueName = uniqueQueueName('script-flush');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued: 3 });
    const inspector = guard.inspector(servers.redis.url, queueName);
    const loaderName = uniqueQueueName('script-loader');
    const loaderQueue = new Queue(loaderName, { connection: inspector.redis, prefix: inspector.prefix });
    const loaderLedger = new AdmissionLedger(inspector.redis, inspector.prefix, loaderName);
    const options = {
      maxQueued: 100,
      maxQueuedBytes: 1e6,
      policy: 'drop-newest',
      outcome: 'unknown',
    } as const;
    // After a flush BullMQ's add fails NOSCRIPT and is sent again after the commands behind it,
    // unless another client loaded BullMQ's scripts again first; the ledger's script goes with
    // EVAL, so loading it again (the ledger's cases) leaves BullMQ's forgotten.
    const flushThenLoad = async (which: 'bullmq' | 'ledger', index: number): Promise<void> => {
      await inspector.redis.script('FLUSH');
      if (which === 'bullmq') await loaderQueue.add('load', {}, { jobId: `load-${index}` });
      else await loaderLedger.reserveAndStore(`load-${index}`, '{}', 2, options);
    };
    try {
      const results = [await producer.enqueue(payload(0), { taskId: 't0' })];
      const cases = ['bullmq', 'ledger', 'bullmq', 'ledger'] as const;
      for (const [index, which] of cases.entries()) {
        await flushThenLoad(which, index);
        results.push(await producer.enqueue(payload(index + 1), { taskId: `t${index + 1}` }));
      }
      expect(results.map((result) => (result.status === 'queued' ? 'queued' : result.reason))).toEqual([
        'queued',
        'queued',
        'queued',
        'queue_full',
        'queue_full',
      ]);
      const queued = results.flatMap((result) => (result.status === 'queued' ? [result.payloadId] : []));
      expect(await waitingIds(queueName)).toEqual(queued.sort());
      expect(await inspector.usage()).toEqual({ payloads: 3, bytes: 3_000 });
    } finally {
      await loaderQueue.close();
      await inspector.close();
      await producer.close();
    }
  });

  it('skips the job of a payload whose bytes are not committed, in the same round trip', async () => {
    const queueName = uniqueQueueName('uncommitted');
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      await inspector.queue.waitUntilReady();
      const options = {
        maxQueued: 10,
        maxQueuedBytes: 1e6,
        policy: 'drop-newest',
        outcome: 'unknown',
      } as const;
      const attempt = (payloadId: string, json: string, bytes: number) =>
        inspector.ledger.reserveAndStore(payloadId, json, bytes, options, {
          skipKey: `${inspector.queue.keys.de}:${payloadId}`,
          send: () =>
            new Job(
              inspector.queue,
              'archive',
              { payloadId },
              { jobId: payloadId, deduplication: { id: payloadId, ttl: 1 } },
              payloadId,
            ).addJob(createIORedisClient(inspector.redis)),
        });
      // Told more bytes than it sends, the commit finds the partial key short.
      const short = await attempt('short', '{"a":1}', 8);
      expect(short.stored).toBe('incomplete');
      expect(short.followUp).not.toBe('short');
      expect(await inspector.queue.getJob('short')).toBeUndefined();
      const whole = await attempt('whole', '{"a":1}', 7);
      expect(whole.stored).toBe('stored');
      expect(whole.followUp).toBe('whole');
      expect(await inspector.queue.getJobState('whole')).toBe('waiting');
      // The key that made BullMQ skip the add is gone; an added job's own lives 1 ms.
      expect(await inspector.redis.exists(`${inspector.queue.keys.de}:short`)).toBe(0);
      expect(await inspector.redis.pttl(`${inspector.queue.keys.de}:whole`)).toBeLessThanOrEqual(1);
    } finally {
      await inspector.close();
    }
  });

  it('drop-oldest evicts the oldest waiting payload, atomically with the bounds', async () => {
    const queueName = uniqueQueueName('drop-oldest');
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxQueued: 3,
      admissionPolicy: 'drop-oldest',
    });
    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const result = await producer.enqueue(payload(index), { taskId: `t${index}` });
      if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
      ids.push(result.payloadId);
    }
    expect(producer.stats().evicted).toBe(2);
    expect(await waitingIds(queueName)).toEqual(ids.slice(2).sort());
    const inspector = guard.inspector(servers.redis.url, queueName);
    expect(await inspector.usage()).toEqual({ payloads: 3, bytes: 3_000 });
    expect(await inspector.redis.exists(inspector.ledger.payloadKey(ids[0] ?? ''))).toBe(0);
    // Their jobs were removed before any consumer came, so nothing is left marked for one.
    expect(await inspector.ledger.evictionMarkers()).toBe(0);
    await inspector.close();
    await producer.close();
  });

  it('drops an eviction marker once its job is gone at two reconciles in a row, and keeps one whose job waits', async () => {
    const queueName = uniqueQueueName('markers');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued: 1 });
    const queued = await producer.enqueue(payload(0), { taskId: 'victim', outcome: 'succeeded' });
    if (queued.status !== 'queued') throw new Error(`dropped: ${queued.reason}`);
    await producer.close();
    const inspector = guard.inspector(servers.redis.url, queueName);
    // Evicted by a reservation whose producer then died: the marker is set, the job still waits.
    const reservation = await inspector.ledger.reserve('newcomer', 1_000, {
      maxQueued: 1,
      maxQueuedBytes: 1_000_000,
      policy: 'drop-oldest',
      outcome: 'failed',
    });
    expect(reservation).toEqual({ admitted: true, evicted: [queued.payloadId] });
    expect(await inspector.ledger.reconcile(60_000)).toEqual({ released: 0, markers: 0 });
    expect(await inspector.ledger.reconcile(60_000)).toEqual({ released: 0, markers: 0 });
    expect(await inspector.ledger.evictionMarkers()).toBe(1);

    // Its job removed with no one to clear the marker: seen once, then dropped.
    await inspector.queue.remove(queued.payloadId);
    expect(await inspector.ledger.reconcile(60_000)).toEqual({ released: 0, markers: 0 });
    expect(await inspector.ledger.evictionMarkers()).toBe(1);
    expect(await inspector.ledger.reconcile(60_000)).toEqual({ released: 0, markers: 1 });
    expect(await inspector.ledger.evictionMarkers()).toBe(0);
    await inspector.close();
  });

  it('lets a failed task push out a succeeded one under any policy, never the other way round', async () => {
    const queueName = uniqueQueueName('outcome');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, maxQueued: 2 });
    const enqueue = (index: number, outcome: 'failed' | 'succeeded' | undefined) =>
      producer.enqueue(payload(index), {
        taskId: `t${index}`,
        ...(outcome === undefined ? {} : { outcome }),
      });
    expect((await enqueue(0, 'succeeded')).status).toBe('queued');
    expect((await enqueue(1, 'succeeded')).status).toBe('queued');
    expect((await enqueue(2, 'failed')).status).toBe('queued');
    expect(await enqueue(3, undefined)).toEqual({ status: 'dropped', reason: 'queue_full' });
    expect((await enqueue(4, 'failed')).status).toBe('queued');
    expect(await enqueue(5, 'failed')).toEqual({ status: 'dropped', reason: 'queue_full' });
    expect(producer.stats().evicted).toBe(2);
    await producer.close();

    const oldest = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxQueued: 2,
      admissionPolicy: 'drop-oldest',
    });
    expect(await oldest.enqueue(payload(6), { taskId: 't6', outcome: 'succeeded' })).toEqual({
      status: 'dropped',
      reason: 'queue_full',
    });
    await oldest.close();
  });

  it('evicts as many as the byte bound needs', async () => {
    const queueName = uniqueQueueName('bytes');
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxQueuedBytes: 3_000,
      maxPayloadBytes: 3_000,
    });
    for (let index = 0; index < 3; index += 1) {
      expect(
        (await producer.enqueue(payload(index), { taskId: `s${index}`, outcome: 'succeeded' })).status,
      ).toBe('queued');
    }
    const big = await producer.enqueue(payload(9, 2_500), { taskId: 'f', outcome: 'failed' });
    expect(big.status).toBe('queued');
    expect(producer.stats().evicted).toBe(3);
    const inspector = guard.inspector(servers.redis.url, queueName);
    expect(await inspector.usage()).toEqual({ payloads: 1, bytes: 2_500 });
    await inspector.close();
    await producer.close();
  });

  it('wait retries until room frees up, and drops after admissionWaitMs', async () => {
    const queueName = uniqueQueueName('wait');
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      maxQueued: 1,
      admissionPolicy: 'wait',
      admissionWaitMs: 600,
    });
    const first = await producer.enqueue(payload(0), { taskId: 'first' });
    if (first.status !== 'queued') throw new Error('first was dropped');
    const started = performance.now();
    const timedOut = await producer.enqueue(payload(1), { taskId: 'timed-out' });
    const waited = performance.now() - started;
    expect(timedOut).toEqual({ status: 'dropped', reason: 'queue_full' });
    expect(waited).toBeGreaterThanOrEqual(550);
    expect(waited).toBeLessThan(1_500);

    const inspector = guard.inspector(servers.redis.url, queueName);
    const pending = producer.enqueue(payload(2), { taskId: 'admitted-later' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await inspector.ledger.release(first.payloadId);
    const later = await pending;
    if (later.status !== 'queued') throw new Error(`admitted-later was dropped: ${later.reason}`);
    // Refused in the round trip that would have added its job, then admitted: added after.
    expect(await inspector.queue.getJobState(later.payloadId)).toBe('waiting');
    expect(await inspector.redis.keys(`${inspector.prefix}:${queueName}:de:*`)).toEqual([]);
    await inspector.close();
    await producer.close();
  });

  it('samples succeeded payloads and never failed ones', async () => {
    const queueName = uniqueQueueName('sample');
    const none = guard.producer({ redisUrl: servers.redis.url, queueName, successSampleRate: 0 });
    expect(await none.enqueue(payload(0), { taskId: 's', outcome: 'succeeded' })).toEqual({
      status: 'dropped',
      reason: 'sampled_out',
    });
    expect((await none.enqueue(payload(1), { taskId: 'f', outcome: 'failed' })).status).toBe('queued');
    expect((await none.enqueue(payload(2), { taskId: 'u' })).status).toBe('queued');
    await none.close();

    const half = guard.producer({
      redisUrl: servers.redis.url,
      queueName: uniqueQueueName('half'),
      successSampleRate: 0.5,
    });
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, index) =>
        half.enqueue(payload(index, 100), { taskId: `h${index}`, outcome: 'succeeded' }),
      ),
    );
    const kept = results.filter((result) => result.status === 'queued').length;
    // Binomial(400, 0.5): outside 140..260 has a probability far below 1e-9.
    expect(kept).toBeGreaterThan(140);
    expect(kept).toBeLessThan(260);
    await half.close();
  });

  it('drops as cpu_budget once enqueues have used their share of the event loop, failures last', async () => {
    const registry = new Registry();
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName: uniqueQueueName('cpu-share'),
      maxCpuShare: 0.1,
      registry,
    });
    const busySeconds = async (): Promise<number> =>
      (await registry.getSingleMetric('debug_archiver_enqueue_busy_seconds_total')?.get())?.values[0]
        ?.value ?? 0;
    // Serialising it holds the thread for 130 ms: more than a second's worth of a 0.1 share.
    const slow = {
      toJSON(): string {
        const until = performance.now() + 130;
        while (performance.now() < until);
        return 'slow';
      },
    };
    expect((await producer.enqueue(slow, { taskId: 'slow' })).status).toBe('queued');
    expect(await busySeconds()).toBeGreaterThanOrEqual(0.13);
    expect(await producer.enqueue(payload(1), { taskId: 'over-budget' })).toEqual({
      status: 'dropped',
      reason: 'cpu_budget',
    });
    // A failed task's payload may run the budget into debt of up to one second's worth.
    expect((await producer.enqueue(payload(2), { taskId: 'failed', outcome: 'failed' })).status).toBe(
      'queued',
    );
    // The budget refills at 0.1 ms per ms: 1.5 s pays off the 30-odd ms owed.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await producer.enqueue(payload(3), { taskId: 'later' })).status).toBe('queued');
    // A large payload is serialised in slices between turns of the event loop: each is paid for.
    const large = { text: 'x'.repeat(INCREMENTAL_THRESHOLD_CHARS), slow };
    expect((await producer.enqueue(large, { taskId: 'large' })).status).toBe('queued');
    expect((await producer.enqueue(payload(4), { taskId: 'after-large' })).status).toBe('dropped');
    expect(producer.stats().dropped.cpu_budget).toBe(2);
    // Two slow serialisations, and no time counted for the payloads dropped before any work.
    expect(await busySeconds()).toBeGreaterThanOrEqual(0.26);
    await producer.close();
  });

  it('keeps the bounds exact with drop-oldest across processes, and archives only what stayed', async () => {
    const queueName = uniqueQueueName('oldest-burst');
    const maxQueued = 20;
    const configs: BurstConfig[] = [0, 1].map((index) => ({
      redisUrl: servers.redis.url,
      queueName,
      tag: `c${index}`,
      count: 150,
      payloadBytes: 500,
      maxQueued,
      admissionPolicy: 'drop-oldest',
      outcome: 'mixed',
      enqueueTimeoutMs: 10_000,
    }));
    const results = await burst(guard, configs);
    expect(results.reduce((sum, result) => sum + result.rejected, 0)).toBe(0);

    const inspector = guard.inspector(servers.redis.url, queueName);
    expect((await inspector.usage()).payloads).toBe(maxQueued);
    // Failed payloads outrank succeeded ones: what stayed is all failed when enough arrived.
    const failedOrder = await inspector.redis.zcard(`{debug-archiver}:${queueName}:ledger:order:failed`);
    expect(failedOrder).toBe(maxQueued);

    const bucket = await servers.s3.createBucket();
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
    });
    await waitFor(
      async () => {
        const counts = await inspector.counts();
        return (await inspector.usage()).payloads === 0 && (counts.waiting ?? 0) + (counts.active ?? 0) === 0
          ? true
          : undefined;
      },
      { what: 'the queue to drain', timeoutMs: 30_000 },
    );
    expect(await listPayloadKeys(servers.s3.client, bucket)).toHaveLength(maxQueued);
    await consumer.close();
    await inspector.close();
  });
});
