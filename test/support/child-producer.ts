import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import {
  createDebugPayloadProducer,
  type DebugPayloadProducer,
  type ProducerOptions,
} from '../../src/index.ts';
import { createProducerRedis } from '../../src/redis-client.ts';

/**
 * A silent producer for a test's child process, on the producer's own kind of client (no
 * offline queue, `enqueueTimeoutMs` as its command timeout) made here and connected before it
 * returns, so the child can report ready and inspect the client. The caller quits `redis`.
 */
export async function connectChildProducer(
  options: ProducerOptions & { redisUrl: string; enqueueTimeoutMs: number },
): Promise<{ redis: Redis; producer: DebugPayloadProducer }> {
  const { redisUrl, ...producerOptions } = options;
  const redis = createProducerRedis(redisUrl, options.enqueueTimeoutMs);
  redis.on('error', () => undefined);
  if (redis.status !== 'ready') await once(redis, 'ready');
  // The CPU share off, as in LeakGuard.producer: the bursts test bounds, not machine speed.
  const producer = createDebugPayloadProducer({
    maxCpuShare: 1,
    ...producerOptions,
    redis,
    logger: pino({ level: 'silent' }),
  });
  return { redis, producer };
}
