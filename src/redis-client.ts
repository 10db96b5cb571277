import { Redis, type RedisOptions } from 'ioredis';

/** Reconnects forever, backing off to 2 s, so a restarted Redis is picked up without help. */
const reconnect = (attempt: number): number => Math.min(100 * 2 ** attempt, 2_000);

/**
 * A producer's client: commands fail at once while Redis is unreachable (no offline queue, no
 * retries) and after `commandTimeoutMs` when it does not answer, so an enqueue never waits
 * longer than that and nothing queues up in the task's memory.
 */
export function createProducerRedis(url: string, commandTimeoutMs: number, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2_000),
    retryStrategy: reconnect,
    connectionName: 'debug-archiver:producer',
    ...extra,
  });
}

/** A consumer's client: BullMQ workers need commands to wait for a reconnect, not fail. */
export function createConsumerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: reconnect,
    connectionName: 'debug-archiver:consumer',
    ...extra,
  });
}
