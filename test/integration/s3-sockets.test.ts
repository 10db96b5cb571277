import { createServer, connect, type Socket } from 'node:net';
import { HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { EnqueueResult } from '../../src/producer/producer.ts';
import { classifyError } from '../../src/metrics/error-class.ts';
import { createS3Client, createS3Dispatcher, s3SocketCounts } from '../../src/storage/s3-client.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { wordyText } from '../support/payloads.ts';
import { useTestServersBehindProxy, uniqueQueueName } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

type Counts = ReturnType<typeof s3SocketCounts>;

/** The consumer's s3_sockets gauge, by state, as a scrape would read it. */
async function socketGauge(registry: Registry): Promise<Counts> {
  const metric = registry.getSingleMetric('debug_archiver_s3_sockets');
  if (metric === undefined) throw new Error('no debug_archiver_s3_sockets metric');
  const counts: Counts = { active: 0, idle: 0, waiting: 0 };
  for (const { labels, value } of (await metric.get()).values) {
    const state = String(labels.state);
    if (state === 'active' || state === 'idle' || state === 'waiting') counts[state] = value;
  }
  return counts;
}

/**
 * A TCP proxy in front of `target` that reads what clients send at about `bytesPerSecond`
 * (answers pass as they come): an upload through it crawls but never stops moving.
 */
async function startThrottle(
  target: string,
  bytesPerSecond: number,
): Promise<{ endpoint: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    track(client);
    track(upstream);
    client.pause();
    const tick = setInterval(() => {
      const data = client.read(
        Math.min(Math.floor(bytesPerSecond / 50), client.readableLength),
      ) as Buffer | null;
      if (data !== null) upstream.write(data);
    }, 20);
    upstream.pipe(client);
    client.once('end', () => upstream.end());
    client.once('close', () => {
      clearInterval(tick);
      upstream.destroy();
    });
    upstream.once('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function queuedId(result: EnqueueResult): string {
  if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
  return result.payloadId;
}

describe("the S3 client's undici Agent", () => {
  // s3rver behind the fault proxy: in delay mode it holds each request, so sockets stay busy.
  const servers = useTestServersBehindProxy();
  const guard = useLeakGuard();

  it('shows in s3_sockets: active during uploads, idle (kept alive) after them, none once the consumer closed', async () => {
    const queueName = uniqueQueueName('s3-sockets');
    const bucket = await servers.s3.createBucket();
    const inspector = guard.inspector(servers.redis.url, queueName);
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, enqueueTimeoutMs: 10_000 });
    servers.proxy.setMode({ kind: 'delay', ms: 300 });
    const consumer = await guard.consumer({
      redisUrl: servers.redis.url,
      queueName,
      bucket,
      s3Endpoint: servers.proxy.endpoint,
      credentials: servers.s3.credentials,
      concurrency: 2,
    });
    try {
      expect(await socketGauge(consumer.registry)).toEqual({ active: 0, idle: 0, waiting: 0 });
      const ids: string[] = [];
      for (let index = 0; index < 2; index += 1) {
        ids.push(
          queuedId(
            await producer.enqueue(
              { index, body: wordyText(200_000, index + 3) },
              { taskId: `sockets-${index}` },
            ),
          ),
        );
      }
      const during = await waitFor(
        async () => {
          const counts = await socketGauge(consumer.registry);
          return counts.active > 0 ? counts : undefined;
        },
        { what: 'an S3 socket in use', timeoutMs: 20_000, intervalMs: 5 },
      );
      // 512 connections: nothing waits for one.
      expect(during.waiting).toBe(0);
      await inspector.waitForArchived(ids, 30_000);
      servers.proxy.setMode({ kind: 'pass' });
      // Kept alive: the proxy answers Keep-Alive: timeout=5, so undici keeps an idle connection
      // 3 s; read within that.
      const after = await waitFor(
        async () => {
          const counts = await socketGauge(consumer.registry);
          return counts.active === 0 && counts.idle > 0 ? counts : undefined;
        },
        { what: 'the S3 sockets to be idle', timeoutMs: 2_000, intervalMs: 5 },
      );
      expect(after.waiting).toBe(0);
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await consumer.close();
      await producer.close();
      await inspector.close();
    }
    // Closing the consumer destroyed its Agent: no pool, no socket left.
    expect(await socketGauge(consumer.registry)).toEqual({ active: 0, idle: 0, waiting: 0 });
  });

  it('counts a request waiting for the only connection, then one idle connection', async () => {
    const bucket = await servers.s3.createBucket();
    const dispatcher = createS3Dispatcher(1);
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: servers.proxy.endpoint,
      maxSockets: 1,
      credentials: servers.s3.credentials,
      dispatcher,
    });
    try {
      expect(s3SocketCounts(dispatcher)).toEqual({ active: 0, idle: 0, waiting: 0 });
      servers.proxy.setMode({ kind: 'delay', ms: 300 });
      const puts = [0, 1].map((index) =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: `sockets/${index}`, Body: `body ${index}` })),
      );
      const busy = await waitFor(
        () => {
          const counts = s3SocketCounts(dispatcher);
          return counts.waiting > 0 ? counts : undefined;
        },
        { what: 'a request waiting for the connection', timeoutMs: 10_000, intervalMs: 1 },
      );
      expect(busy).toEqual({ active: 1, idle: 0, waiting: 1 });
      await Promise.all(puts);
      // undici marks the connection free a tick after the answer is complete.
      const after = await waitFor(
        () => {
          const counts = s3SocketCounts(dispatcher);
          return counts.active === 0 && counts.idle > 0 ? counts : undefined;
        },
        { what: 'the connection to be idle', timeoutMs: 2_000, intervalMs: 1 },
      );
      expect(after).toEqual({ active: 0, idle: 1, waiting: 0 });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await dispatcher.destroy();
      client.destroy();
    }
    expect(s3SocketCounts(dispatcher)).toEqual({ active: 0, idle: 0, waiting: 0 });
  });

  it('fails a request the caller aborts with an AbortError, counted as aborted', async () => {
    const bucket = await servers.s3.createBucket();
    const dispatcher = createS3Dispatcher(4);
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: servers.proxy.endpoint,
      maxSockets: 4,
      credentials: servers.s3.credentials,
      dispatcher,
    });
    try {
      servers.proxy.setMode({ kind: 'delay', ms: 5_000 });
      const controller = new AbortController();
      const settled = client
        .send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: controller.signal })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      await waitFor(() => (s3SocketCounts(dispatcher).active > 0 ? true : undefined), {
        what: 'the request to be under way',
        timeoutMs: 10_000,
        intervalMs: 1,
      });
      // What the consumer does to the uploads under way past its drain deadline.
      controller.abort(new Error('consumer shutting down'));
      const aborted = await settled;
      expect(aborted).toMatchObject({ name: 'AbortError' });
      expect(classifyError(aborted)).toBe('aborted');

      // The readiness probe's AbortSignal.timeout, whose reason is a TimeoutError: not retried.
      const started = performance.now();
      const timedOut = await client
        .send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(200) })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(timedOut).toMatchObject({ name: 'AbortError' });
      expect(performance.now() - started).toBeLessThan(4_000);
      // Aborting destroyed the connections: nothing left in use.
      await waitFor(() => (s3SocketCounts(dispatcher).active === 0 ? true : undefined), {
        what: 'the aborted requests to release their sockets',
        timeoutMs: 2_000,
        intervalMs: 1,
      });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await dispatcher.destroy();
      client.destroy();
    }
  });

  it('fails a request past its request timeout with a TimeoutError (ETIMEDOUT) that the SDK retries', async () => {
    const bucket = await servers.s3.createBucket();
    const dispatcher = createS3Dispatcher(4);
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: servers.proxy.endpoint,
      maxSockets: 4,
      credentials: servers.s3.credentials,
      dispatcher,
      timeouts: { requestMs: 300 },
    });
    try {
      servers.proxy.setMode({ kind: 'delay', ms: 5_000 });
      const before = servers.proxy.counts().requests;
      const started = performance.now();
      const error = await client.send(new HeadBucketCommand({ Bucket: bucket })).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      const ms = performance.now() - started;
      expect(error).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT', $metadata: { attempts: 3 } });
      expect(classifyError(error)).toBe('timeout');
      expect(servers.proxy.counts().requests - before).toBe(3);
      expect(ms).toBeGreaterThanOrEqual(3 * 300);
      expect(ms).toBeLessThan(4_500);
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await dispatcher.destroy();
      client.destroy();
    }
  });

  it('closes a connection that moves no bytes for the idle timeout: TimeoutError, retried by the SDK', async () => {
    const bucket = await servers.s3.createBucket();
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: servers.proxy.endpoint,
      maxSockets: 4,
      credentials: servers.s3.credentials,
      timeouts: { idleMs: 300 },
    });
    try {
      servers.proxy.setMode({ kind: 'delay', ms: 5_000 });
      const before = servers.proxy.counts().requests;
      const started = performance.now();
      const error = await client.send(new HeadBucketCommand({ Bucket: bucket })).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ name: 'TimeoutError', $metadata: { attempts: 3 } });
      expect(classifyError(error)).toBe('timeout');
      expect(servers.proxy.counts().requests - before).toBe(3);
      expect(performance.now() - started).toBeLessThan(4_500);
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      client.destroy();
    }
  });

  it('lets an upload that keeps moving outlast the idle timeout (undici headersTimeout alone would cut it)', async () => {
    const bucket = await servers.s3.createBucket();
    // About 3 MB/s: several seconds for the body, while the kernel's socket buffers (a few MB)
    // still drain well within each idle period, so the connection shows progress in every one.
    const throttle = await startThrottle(servers.s3.endpoint, 3 * 1024 * 1024);
    const idleMs = 2_000;
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: throttle.endpoint,
      maxSockets: 4,
      credentials: servers.s3.credentials,
      timeouts: { idleMs },
    });
    try {
      // A Buffer body, as lib-storage sends every part: undici writes it to the socket at once.
      const body = Buffer.alloc(24 * 1024 * 1024, 'x');
      const started = performance.now();
      const put = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'slow', Body: body, ContentLength: body.length }),
      );
      const ms = performance.now() - started;
      expect(put.$metadata.attempts).toBe(1);
      expect(ms).toBeGreaterThan(2 * idleMs);
    } finally {
      client.destroy();
      await throttle.close();
    }
  }, 60_000);
});
