import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { ArchiveConsumer } from '../../src/consumer/archive-consumer.ts';
import type { DebugPayloadProducer, EnqueueResult, ProducerOptions } from '../../src/producer/producer.ts';

import type { QueueInspector } from '../support/inspect.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { wordyText } from '../support/payloads.ts';
import { ProcessOutput, waitForExit } from '../support/processes.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import {
  consumerTarget,
  useTestServersBehindProxy,
  startTestRedis,
  uniqueQueueName,
  workerEnv,
  type TestS3,
} from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const WORKER = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));

type Queued = Extract<EnqueueResult, { status: 'queued' }>;

function queued(result: EnqueueResult): Queued {
  if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
  return result;
}

/** The sum of a metric's samples, from prom-client's text format. */
async function metricTotal(consumer: ArchiveConsumer, name: string): Promise<number> {
  const text = await consumer.registry.getSingleMetricAsString(name);
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Admits `count` payloads of about `chars` characters each; fails if any is dropped. */
async function admit(
  producer: DebugPayloadProducer,
  count: number,
  chars: number,
  label: string,
): Promise<Queued[]> {
  const text = wordyText(chars, 11);
  const results: Queued[] = [];
  for (let index = 0; index < count; index += 1) {
    results.push(
      queued(
        await producer.enqueue({ index, body: `${label} ${index} ${text}` }, { taskId: `${label}-${index}` }),
      ),
    );
  }
  return results;
}

/** Every admitted payload is in the bucket exactly once, and nothing else with content is. */
async function expectArchivedOnce(
  s3: TestS3,
  bucket: string,
  admitted: readonly Queued[],
): Promise<string[]> {
  const keys = await listPayloadKeys(s3.client, bucket);
  expect(new Set(keys).size).toBe(keys.length);
  expect(keys).toEqual(admitted.map((result) => result.key).sort());
  return keys;
}

/** Figures for docs/reliability.md, printed when FAULTS_REPORT=1. */
function report(name: string, figures: Record<string, unknown>): void {
  if (process.env.FAULTS_REPORT === '1') process.stdout.write(`FAULTS ${name} ${JSON.stringify(figures)}\n`);
}

describe('faults', () => {
  const servers = useTestServersBehindProxy();
  const guard = useLeakGuard();

  /** A worker process whose S3 traffic goes through the servers.proxy. */
  function proxiedWorkerEnv(queueName: string, bucket: string): NodeJS.ProcessEnv {
    return workerEnv(
      { ...consumerTarget(servers, queueName, bucket), s3Endpoint: servers.proxy.endpoint },
      { LOG_LEVEL: 'warn', DEBUG_ARCHIVE_CONCURRENCY: '2' },
    );
  }

  function startWorker(env: NodeJS.ProcessEnv): { child: ChildProcess; output: ProcessOutput } {
    const child = guard.spawn(process.execPath, [WORKER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, output: new ProcessOutput(child) };
  }

  /** A consumer in this process whose S3 traffic goes through the servers.proxy. */
  function proxiedConsumer(queueName: string, bucket: string, s3Client?: S3Client): Promise<ArchiveConsumer> {
    return guard.consumer({
      redisUrl: servers.redis.url,
      queueName,
      bucket,
      s3Endpoint: servers.proxy.endpoint,
      credentials: servers.s3.credentials,
      s3: s3Client,
      concurrency: 4,
    });
  }

  /** A fresh queue and bucket, with a producer and an inspector on `redisUrl`. */
  async function scenario(
    label: string,
    producerOptions: Partial<ProducerOptions> = {},
    redisUrl = servers.redis.url,
  ) {
    const queueName = uniqueQueueName(label);
    const bucket = await servers.s3.createBucket();
    const inspector = guard.inspector(redisUrl, queueName);
    const producer = guard.producer({ redisUrl, queueName, ...producerOptions });
    return { queueName, bucket, inspector, producer };
  }

  async function expectQueueEmpty(inspector: QueueInspector): Promise<void> {
    const counts = await inspector.counts();
    expect(counts.failed ?? 0).toBe(0);
    expect((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0)).toBe(0);
    expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
  }

  it('archives every payload exactly once after the worker is SIGKILLed mid-upload (stalled recovery)', async () => {
    const { queueName, bucket, inspector, producer } = await scenario('faults-kill', {
      enqueueTimeoutMs: 10_000,
    });
    try {
      // Incompressible payloads of 6 MB: about 6 MiB once encoded, so over the 5 MiB part
      // size each goes up as a multipart upload of two parts.
      const noise = randomBytes(4_500_000).toString('base64');
      const admitted: Queued[] = [];
      for (let index = 0; index < 6; index += 1) {
        admitted.push(
          queued(await producer.enqueue({ index, body: `${index} ${noise}` }, { taskId: `kill-${index}` })),
        );
      }
      const startedCounts = servers.proxy.counts();
      servers.proxy.setMode({ kind: 'delay', ms: 1_500 });
      // Short locks and stalled checks, so recovery takes seconds rather than the 30 s defaults.
      const env = {
        ...proxiedWorkerEnv(queueName, bucket),
        DEBUG_ARCHIVE_PART_SIZE_BYTES: String(5 * 1024 * 1024),
        DEBUG_ARCHIVE_LOCK_DURATION_MS: '2000',
        DEBUG_ARCHIVE_STALLED_INTERVAL_MS: '1000',
      };
      const first = startWorker(env);
      const active = await waitFor(
        async () => {
          const ids = await inspector.queue.getActive();
          const created = servers.proxy.counts().multipartCreated > startedCounts.multipartCreated;
          return ids.length > 0 && created ? ids : undefined;
        },
        { what: 'a multipart upload to be in flight', timeoutMs: 20_000, intervalMs: 10 },
      );
      first.child.kill('SIGKILL');
      expect(await waitForExit(first.child, 10_000, 'the killed worker')).toEqual({
        code: null,
        signal: 'SIGKILL',
      });
      const killedAt = performance.now();
      const stranded = await inspector.queue.getActive();
      expect(stranded.length).toBeGreaterThan(0);
      expect(active.length).toBeGreaterThan(0);
      // Nothing archived yet: the uploads were held by the proxy when the worker died.
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual([]);
      servers.proxy.setMode({ kind: 'pass' });
      // The new worker's stalled check finds the dead worker's jobs once their locks expire.
      const second = startWorker(env);
      await waitFor(
        async () => ((await inspector.queue.getActiveCount()) < stranded.length ? true : undefined),
        {
          what: 'the stalled jobs to be recovered',
          timeoutMs: 20_000,
          intervalMs: 50,
        },
      );
      const movedBackMs = performance.now() - killedAt;
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        40_000,
      );
      const recoveredMs = performance.now() - killedAt;
      second.child.kill('SIGTERM');
      expect(await waitForExit(second.child, 20_000, 'the second worker')).toEqual({ code: 0, signal: null });

      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      const counts = servers.proxy.counts();
      // s3rver answers ListMultipartUploads with NotImplemented, so the proxy accounts for them:
      // every payload went up as a multipart upload, and the only ones neither completed nor
      // aborted are those the kill cut short (nothing can abort them; see docs/reliability.md).
      const created = counts.multipartCreated - startedCounts.multipartCreated;
      const settled =
        counts.multipartCompleted -
        startedCounts.multipartCompleted +
        (counts.multipartAborted - startedCounts.multipartAborted);
      expect(created).toBeGreaterThanOrEqual(admitted.length);
      expect(created - settled).toBeGreaterThanOrEqual(0);
      expect(created - settled).toBeLessThanOrEqual(stranded.length);
      report('sigkill', {
        admitted: admitted.length,
        archived: keys.length,
        strandedActive: stranded.length,
        movedBackMs: Math.round(movedBackMs),
        recoveredMs: Math.round(recoveredMs),
        multipartCreated: created,
        multipartLeftOpen: created - settled,
      });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await producer.close();
      await inspector.close();
    }
  }, 60_000);

  it('archives everything through a slow S3 (300 ms per request)', async () => {
    const { queueName, bucket, inspector, producer } = await scenario('faults-slow', {
      attempts: 10,
      backoffDelayMs: 50,
    });
    servers.proxy.setMode({ kind: 'delay', ms: 300 });
    const consumer = await proxiedConsumer(queueName, bucket);
    try {
      const started = performance.now();
      const admitted = await admit(producer, 16, 50_000, 'slow');
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        30_000,
      );
      const ms = performance.now() - started;
      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      report('slow', { admitted: admitted.length, archived: keys.length, drainMs: Math.round(ms) });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await consumer.close();
      await producer.close();
      await inspector.close();
    }
  }, 40_000);

  it('archives everything when S3 answers 30% of requests with 503 SlowDown, retrying with backoff', async () => {
    const { queueName, bucket, inspector, producer } = await scenario('faults-503', {
      attempts: 10,
      backoffDelayMs: 50,
    });
    // The SDK retries a 503 itself (3 tries by default), which would hide most failures from
    // the job-level retries this test is about: let it try each request twice only.
    const s3Client = new S3Client({
      region: 'us-east-1',
      endpoint: servers.proxy.endpoint,
      forcePathStyle: true,
      credentials: servers.s3.credentials,
      maxAttempts: 2,
    });
    const before = servers.proxy.counts();
    servers.proxy.setMode({ kind: 'fail', fraction: 0.3 });
    const consumer = await proxiedConsumer(queueName, bucket, s3Client);
    try {
      const admitted = await admit(producer, 30, 20_000, 'flaky');
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        40_000,
      );
      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      const attempts = await metricTotal(consumer, 'debug_archiver_upload_attempts_total');
      const archived = await metricTotal(consumer, 'debug_archiver_archived_payloads_total');
      const failed503 = servers.proxy.counts().failed - before.failed;
      expect(failed503).toBeGreaterThan(0);
      expect(archived).toBe(admitted.length);
      expect(attempts).toBeGreaterThan(admitted.length);
      report('503', {
        admitted: admitted.length,
        archived: keys.length,
        requests: servers.proxy.counts().requests - before.requests,
        answered503: failed503,
        uploadAttempts: attempts,
      });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await consumer.close();
      s3Client.destroy();
      await producer.close();
      await inspector.close();
    }
  }, 60_000);

  it('loses nothing while S3 refuses connections and drains the backlog once it is back', async () => {
    const { queueName, bucket, inspector, producer } = await scenario('faults-down', {
      attempts: 10,
      backoffDelayMs: 200,
    });
    servers.proxy.setMode({ kind: 'refuse' });
    const consumer = await proxiedConsumer(queueName, bucket);
    try {
      const admitted = await admit(producer, 20, 30_000, 'down');
      await delay(3_000);
      // Down for 3 s: nothing archived, nothing failed for good, everything still admitted.
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual([]);
      expect((await inspector.counts()).failed ?? 0).toBe(0);
      expect((await inspector.usage()).payloads).toBe(admitted.length);
      const attemptsWhileDown = await metricTotal(consumer, 'debug_archiver_upload_attempts_total');
      expect(attemptsWhileDown).toBeGreaterThan(admitted.length);

      servers.proxy.setMode({ kind: 'pass' });
      const back = performance.now();
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        30_000,
      );
      const drainMs = performance.now() - back;
      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      report('s3-down', {
        admitted: admitted.length,
        archived: keys.length,
        attemptsWhileDown,
        drainAfterRecoveryMs: Math.round(drainMs),
      });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      await consumer.close();
      await producer.close();
      await inspector.close();
    }
  }, 40_000);

  it('keeps admitted payloads across a Redis restart with AOF; producers drop meanwhile; the consumer reconnects', async () => {
    const aofRedis = await startTestRedis({ appendOnly: true });
    const { queueName, bucket, inspector, producer } = await scenario(
      'faults-redis',
      { enqueueTimeoutMs: 500 },
      aofRedis.url,
    );
    const consumer = await guard.consumer({
      redisUrl: aofRedis.url,
      queueName,
      bucket,
      s3Endpoint: servers.s3.endpoint,
      credentials: servers.s3.credentials,
    });
    try {
      // Hold the jobs in Redis at the moment of the stop (a paused queue is not fetched from).
      await inspector.queue.pause();
      const before = await admit(producer, 10, 30_000, 'before');
      await aofRedis.stop();
      const stoppedAt = performance.now();

      const whileDown: EnqueueResult[] = [];
      for (let index = 0; index < 5; index += 1) {
        const started = performance.now();
        whileDown.push(await producer.enqueue({ index }, { taskId: `down-${index}` }));
        expect(performance.now() - started).toBeLessThan(1_500);
      }
      expect(whileDown).toEqual(
        Array.from({ length: 5 }, () => ({ status: 'dropped', reason: 'redis_unavailable' })),
      );
      expect(producer.stats().dropped.redis_unavailable).toBe(5);

      await aofRedis.start();
      const after = await waitFor(
        async () => {
          const result = await producer.enqueue({ after: true }, { taskId: 'after-restart' });
          return result.status === 'queued' ? result : undefined;
        },
        { what: 'the producer to queue again', timeoutMs: 20_000, intervalMs: 100 },
      );
      const resumedMs = performance.now() - stoppedAt;
      // Survived the restart: still admitted with their bytes.
      expect((await inspector.usage()).payloads).toBe(before.length + 1);
      await inspector.queue.resume();
      const admitted = [...before, after];
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        30_000,
      );
      const archivedMs = performance.now() - stoppedAt;
      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      expect(await metricTotal(consumer, 'debug_archiver_archived_payloads_total')).toBe(admitted.length);
      report('redis-restart', {
        admitted: admitted.length,
        archived: keys.length,
        droppedWhileDown: whileDown.length,
        producerResumedMs: Math.round(resumedMs),
        allArchivedMs: Math.round(archivedMs),
      });
    } finally {
      await consumer.close();
      await producer.close();
      await inspector.close();
      await aofRedis.destroy();
    }
  }, 60_000);

  it('shares 60 payloads among three consumers on one queue, each archived exactly once', async () => {
    const { queueName, bucket, inspector, producer } = await scenario('faults-scale');
    servers.proxy.setMode({ kind: 'delay', ms: 50 });
    const consumers = [
      await proxiedConsumer(queueName, bucket),
      await proxiedConsumer(queueName, bucket),
      await proxiedConsumer(queueName, bucket),
    ];
    try {
      const admitted = await admit(producer, 60, 20_000, 'scale');
      await inspector.waitForArchived(
        admitted.map((result) => result.payloadId),
        40_000,
      );
      const keys = await expectArchivedOnce(servers.s3, bucket, admitted);
      await expectQueueEmpty(inspector);
      const perConsumer = await Promise.all(
        consumers.map((consumer) => metricTotal(consumer, 'debug_archiver_archived_payloads_total')),
      );
      expect(perConsumer.reduce((total, count) => total + count, 0)).toBe(admitted.length);
      expect(perConsumer.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);
      report('scale-out', { admitted: admitted.length, archived: keys.length, perConsumer });
    } finally {
      servers.proxy.setMode({ kind: 'pass' });
      for (const consumer of consumers) await consumer.close();
      await producer.close();
      await inspector.close();
    }
  }, 60_000);
});
