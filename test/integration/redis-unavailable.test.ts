import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/free-port.ts';
import type { DebugPayloadProducer, EnqueueResult } from '../../src/producer/producer.ts';
import { createProducerRedis } from '../../src/redis-client.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { useTestRedis, uniqueQueueName } from '../support/servers.ts';
import { timed, waitFor } from '../support/wait.ts';

/** enqueueTimeoutMs defaults to 1000; every call must settle well within it plus slack. */
const CALL_BOUND_MS = 1_500;
const CALLS = 200;

const payload = { body: 'x'.repeat(10_000) };
const dropped: EnqueueResult = { status: 'dropped', reason: 'redis_unavailable' };

function totalListeners(client: Redis): number {
  return client.eventNames().reduce((total, name) => total + client.listenerCount(name), 0);
}

async function sequentialCalls(producer: DebugPayloadProducer, calls: number, label: string) {
  const outcomes: { value: EnqueueResult; ms: number }[] = [];
  for (let index = 0; index < calls; index += 1) {
    outcomes.push(await timed(() => producer.enqueue(payload, { taskId: `${label}-${index}` })));
  }
  return outcomes;
}

describe('with no Redis listening', () => {
  const guard = useLeakGuard();
  let deadUrl: string;

  beforeAll(async () => {
    deadUrl = `redis://127.0.0.1:${await freePort()}`;
  });

  it('drops with redis_unavailable within the bound, call after call and all at once', async () => {
    const producer = guard.producer({ redisUrl: deadUrl, queueName: uniqueQueueName('dead') });
    try {
      const concurrent = await Promise.all(
        Array.from({ length: CALLS }, (_, index) =>
          timed(() => producer.enqueue(payload, { taskId: `burst-${index}` })),
        ),
      );
      const sequential = await sequentialCalls(producer, CALLS, 'one-by-one');
      for (const { value, ms } of [...concurrent, ...sequential]) {
        expect(value).toEqual(dropped);
        expect(ms).toBeLessThan(CALL_BOUND_MS);
      }
      const stats = producer.stats();
      expect(stats.queued).toBe(0);
      expect(stats.dropped.redis_unavailable).toBe(2 * CALLS);
      expect(stats.inFlightBytes).toBe(0);
    } finally {
      await producer.close();
    }
  });

  it('adds no listeners to the Redis client per call', async () => {
    const client = createProducerRedis(deadUrl, 1_000);
    client.on('error', () => undefined);
    const producer = guard.producer({ redis: client, queueName: uniqueQueueName('dead-listeners') });
    try {
      const warmUp = await sequentialCalls(producer, 5, 'warm-up');
      for (const { value } of warmUp) expect(value).toEqual(dropped);
      const before = totalListeners(client);
      const burst = await Promise.all(
        Array.from({ length: CALLS }, (_, index) => producer.enqueue(payload, { taskId: `burst-${index}` })),
      );
      const oneByOne = await sequentialCalls(producer, CALLS, 'one-by-one');
      for (const value of burst) expect(value).toEqual(dropped);
      for (const { value, ms } of oneByOne) {
        expect(value).toEqual(dropped);
        expect(ms).toBeLessThan(CALL_BOUND_MS);
      }
      expect(totalListeners(client)).toBe(before);
      expect(producer.stats().inFlightBytes).toBe(0);
    } finally {
      await producer.close();
      client.disconnect();
    }
  });
});

describe('with a server that accepts connections and never answers', () => {
  const guard = useLeakGuard();
  let server: Server;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });

  it('drops with redis_unavailable within the bound', async () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    const producer = guard.producer({
      redisUrl: `redis://127.0.0.1:${address.port}`,
      queueName: uniqueQueueName('silent'),
    });
    try {
      const concurrent = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          timed(() => producer.enqueue(payload, { taskId: `silent-${index}` })),
        ),
      );
      const sequential = await sequentialCalls(producer, 20, 'silent-one-by-one');
      for (const { value, ms } of [...concurrent, ...sequential]) {
        expect(value).toEqual(dropped);
        expect(ms).toBeLessThan(CALL_BOUND_MS);
      }
      expect(producer.stats().inFlightBytes).toBe(0);
    } finally {
      await producer.close();
    }
  });
});

describe('when Redis stops and comes back', () => {
  const servers = useTestRedis();
  const guard = useLeakGuard();

  it('drops quickly while Redis is down and queues again on its own once it is back', async () => {
    const queueName = uniqueQueueName('restart');
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
    try {
      expect((await producer.enqueue(payload, { taskId: 'before' })).status).toBe('queued');

      await servers.redis.stop();
      const whileDown = await sequentialCalls(producer, 50, 'down');
      for (const { value, ms } of whileDown) {
        expect(value).toEqual(dropped);
        expect(ms).toBeLessThan(CALL_BOUND_MS);
      }
      expect(producer.stats().inFlightBytes).toBe(0);

      await servers.redis.start();
      const back = await waitFor(
        async () => {
          const result = await producer.enqueue(payload, { taskId: 'after' });
          return result.status === 'queued' ? result : undefined;
        },
        { what: 'the producer to queue again after Redis came back', timeoutMs: 10_000, intervalMs: 100 },
      );
      expect(back.key).toContain(back.payloadId);
      const inspector = guard.inspector(servers.redis.url, queueName);
      try {
        expect(await inspector.isAdmitted(back.payloadId)).toBe(true);
        expect(await inspector.queue.getJobState(back.payloadId)).toBe('waiting');
      } finally {
        await inspector.close();
      }
      const stats = producer.stats();
      expect(stats.queued).toBeGreaterThanOrEqual(2);
      expect(stats.inFlightBytes).toBe(0);
    } finally {
      await producer.close();
    }
  });
});
