import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { startLocalRedis, type LocalRedis } from '../../src/local/redis-server.ts';
import { startLocalS3 } from '../../src/local/s3-server.ts';
import { createS3Client } from '../../src/storage/s3-client.ts';

/**
 * Real servers for integration tests. Where a Docker engine is reachable the tests run on
 * Redis and MinIO containers through testcontainers; otherwise on a private redis-server on a
 * free port and s3rver in-process over HTTP. Never the shared Redis on 6379, never a mock.
 */
export const dockerAvailable =
  process.env.DEBUG_ARCHIVER_NO_DOCKER !== '1' &&
  (process.env.DOCKER_HOST !== undefined || existsSync('/var/run/docker.sock'));

export interface TestRedis {
  url: string;
  /** Stops the server; `start()` brings it back on the same address (with AOF when asked). */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export interface TestS3 {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A client for the test's own checks. */
  client: S3Client;
  /** A fresh bucket with a unique name. */
  createBucket(): Promise<string>;
  destroy(): Promise<void>;
}

export async function startTestRedis(options: { appendOnly?: boolean } = {}): Promise<TestRedis> {
  if (!dockerAvailable) {
    const local: LocalRedis = await startLocalRedis(options);
    return local;
  }
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withCommand([
      'redis-server',
      '--appendonly',
      options.appendOnly === true ? 'yes' : 'no',
      '--maxmemory-policy',
      'noeviction',
    ])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    stop: async () => {
      await container.exec(['redis-cli', 'shutdown']);
    },
    start: async () => {
      await container.restart();
    },
    destroy: async () => {
      await container.stop();
    },
  };
}

let bucketCounter = 0;

export async function startTestS3(): Promise<TestS3> {
  let endpoint: string;
  let credentials: TestS3['credentials'];
  let stop: () => Promise<void>;
  let directory: string | undefined;
  if (dockerAvailable) {
    const { GenericContainer, Wait } = await import('testcontainers');
    credentials = { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' };
    const container = await new GenericContainer('minio/minio:latest')
      .withCommand(['server', '/data'])
      .withEnvironment({
        MINIO_ROOT_USER: credentials.accessKeyId,
        MINIO_ROOT_PASSWORD: credentials.secretAccessKey,
        // A static key, so MinIO accepts the SSE-S3 every object is written with.
        MINIO_KMS_SECRET_KEY: 'debug-archiver-test:bXlzZWNyZXRrZXltdXN0YmUzMmJ5dGVzbG9uZzEyMzQ=',
      })
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
      .start();
    endpoint = `http://${container.getHost()}:${container.getMappedPort(9000)}`;
    stop = async () => {
      await container.stop();
    };
  } else {
    directory = await mkdtemp(join(tmpdir(), 'debug-archiver-s3-'));
    const local = await startLocalS3({ directory, buckets: [] });
    endpoint = local.endpoint;
    credentials = local.credentials;
    stop = () => local.stop();
  }
  const client = createS3Client({ region: 'us-east-1', endpoint, maxSockets: 64, credentials });
  return {
    endpoint,
    credentials,
    client,
    createBucket: async () => {
      bucketCounter += 1;
      const bucket = `test-${process.pid}-${bucketCounter}-${Date.now().toString(36)}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    destroy: async () => {
      client.destroy();
      await stop();
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * A private Redis and S3 for the tests of one file or `describe`: started before its first
 * test, destroyed after its last. Read them inside tests (`servers.redis.url`), not at load.
 */
export function useTestServers(): { redis: TestRedis; s3: TestS3 } {
  const servers = {} as { redis: TestRedis; s3: TestS3 };
  beforeAll(async () => {
    [servers.redis, servers.s3] = await Promise.all([startTestRedis(), startTestS3()]);
  });
  afterAll(async () => {
    await Promise.all([servers.redis.destroy(), servers.s3.destroy()]);
  });
  return servers;
}

/**
 * As useTestServers, plus a fault proxy in front of S3 (started after it, closed before it):
 * consumers given `proxy.endpoint` see whatever S3 faults the test sets.
 */
export function useTestServersBehindProxy(): { redis: TestRedis; s3: TestS3; proxy: FaultProxy } {
  const servers = useTestServers() as { redis: TestRedis; s3: TestS3; proxy: FaultProxy };
  beforeAll(async () => {
    servers.proxy = await startFaultProxy(servers.s3.endpoint);
  });
  afterAll(async () => {
    await servers.proxy.close();
  });
  return servers;
}

export interface ConsumerTarget {
  redisUrl: string;
  queueName: string;
  bucket: string;
  s3Endpoint: string;
  credentials: TestS3['credentials'];
}

/** What a test consumer of `servers` is pointed at: their Redis, their S3, one queue and bucket. */
export function consumerTarget(
  servers: { redis: TestRedis; s3: TestS3 },
  queueName: string,
  bucket: string,
): ConsumerTarget {
  return {
    redisUrl: servers.redis.url,
    queueName,
    bucket,
    s3Endpoint: servers.s3.endpoint,
    credentials: servers.s3.credentials,
  };
}

/** Only what a worker process needs: nothing inherited from the test's own environment. */
export function baseWorkerEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info' };
}

/**
 * The environment of a worker process (worker/main.ts) archiving `target`, on any free metrics
 * port (workers of parallel tests must not fight over the default 9464); `extra` adds to it or
 * overrides it.
 */
export function workerEnv(target: ConsumerTarget, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...baseWorkerEnv(),
    REDIS_URL: target.redisUrl,
    DEBUG_ARCHIVE_BUCKET: target.bucket,
    DEBUG_ARCHIVE_QUEUE: target.queueName,
    S3_ENDPOINT: target.s3Endpoint,
    AWS_ACCESS_KEY_ID: target.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    METRICS_PORT: '0',
    ...extra,
  };
}

/** A private Redis for tests that need no S3; as useTestServers. */
export function useTestRedis(): { redis: TestRedis } {
  const servers = {} as { redis: TestRedis };
  beforeAll(async () => {
    servers.redis = await startTestRedis();
  });
  afterAll(async () => {
    await servers.redis.destroy();
  });
  return servers;
}

/** A queue name no other test uses. */
export function uniqueQueueName(label: string): string {
  return `test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}
