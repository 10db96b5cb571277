import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A standalone Redis or a Redis Cluster (every key is hash-tagged into one slot). */
export type RedisClient = Redis | Cluster;

/** Reconnects forever, backing off to 2 s, so a restarted Redis is picked up without help. */
const reconnect = (attempt: number): number => Math.min(100 * 2 ** attempt, 2_000);

/** A cluster client seeded from one node's URL; credentials and TLS apply to every node. */
function cluster(url: string, redisOptions: RedisOptions, options: ClusterOptions): Cluster {
  const seed = new URL(url);
  return new Cluster([{ host: seed.hostname, port: Number(seed.port || 6379) }], {
    clusterRetryStrategy: reconnect,
    ...options,
    redisOptions: {
      ...(seed.username === '' ? {} : { username: decodeURIComponent(seed.username) }),
      ...(seed.password === '' ? {} : { password: decodeURIComponent(seed.password) }),
      ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
      ...redisOptions,
    },
  });
}

/**
 * A producer's client: commands fail at once while Redis is unreachable (no offline queue, no
 * retries) and after `commandTimeoutMs` when it does not answer, so an enqueue never waits
 * longer than that and nothing queues up in the task's memory.
 */
export function createProducerRedis(url: string, commandTimeoutMs: number, extra?: RedisOptions): Redis;
export function createProducerRedis(
  url: string,
  commandTimeoutMs: number,
  extra: RedisOptions,
  asCluster: boolean,
): RedisClient;
export function createProducerRedis(
  url: string,
  commandTimeoutMs: number,
  extra: RedisOptions = {},
  asCluster = false,
): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2_000),
    connectionName: 'debug-archiver:producer',
    ...extra,
  };
  if (asCluster) return cluster(url, options, { enableOfflineQueue: false });
  return new Redis(url, { enableOfflineQueue: false, retryStrategy: reconnect, ...options });
}

/** A consumer's client: BullMQ workers need commands to wait for a reconnect, not fail. */
export function createConsumerRedis(url: string, extra?: RedisOptions): Redis;
export function createConsumerRedis(url: string, extra: RedisOptions, asCluster: boolean): RedisClient;
export function createConsumerRedis(url: string, extra: RedisOptions = {}, asCluster = false): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    connectionName: 'debug-archiver:consumer',
    ...extra,
  };
  if (asCluster) return cluster(url, options, { maxRetriesPerRequest: null } as ClusterOptions);
  return new Redis(url, { retryStrategy: reconnect, ...options });
}
