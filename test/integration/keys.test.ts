import { describe, expect, it } from 'vitest';
import { ARCHIVE_JOB_NAME, type ArchiveJobData, type ArchiveJobResult } from '../../src/archive-job.ts';
import { parseObjectKey } from '../../src/object-key.ts';
import type { DebugPayloadMeta, EnqueueResult } from '../../src/producer/producer.ts';
import { loadDebugPayload } from '../../src/pull.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const HOSTILE_TASK_IDS = [
  '../../etc/passwd',
  '/abs',
  'a\u0000b',
  'x'.repeat(5000),
  '..',
  '.',
  '_',
  'a/b',
  'a%2Fb',
  'tab\there\nnewline\r\u001f\u007f',
  '\ud800',
  'é日本🎉',
  ' ',
];

type Queued = Extract<EnqueueResult, { status: 'queued' }>;

function queued(result: EnqueueResult): Queued {
  if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
  return result;
}

function controlCharacterCount(text: string): number {
  let count = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) count += 1;
  }
  return count;
}

/** The key without its payload id: the part the caller's task id and integration decide. */
function directoryOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/'));
}

describe('object keys', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  async function setUp(label: string) {
    const queueName = uniqueQueueName(label);
    const bucket = await servers.s3.createBucket();
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
    const inspector = guard.inspector(servers.redis.url, queueName);
    const startConsumer = () =>
      guard.consumer({
        ...consumerTarget(servers, queueName, bucket),
        concurrency: 4,
      });
    return { queueName, bucket, producer, inspector, startConsumer };
  }

  it('archives each payload under exactly the key enqueue returned', async () => {
    const { bucket, producer, inspector, startConsumer } = await setUp('keys-returned');
    const consumer = await startConsumer();
    try {
      const metas: DebugPayloadMeta[] = [
        { taskId: 'task-1' },
        { taskId: 'task-2', integration: 'acme-bank' },
        { taskId: 'task 3/with slash', integration: 'site.example' },
      ];
      const results = await Promise.all(
        metas.map(async (meta, index) => queued(await producer.enqueue({ index }, meta))),
      );
      await inspector.waitForArchived(results.map((result) => result.payloadId));
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual(
        results.map((result) => result.key).sort(),
      );
      for (const [index, result] of results.entries()) {
        const meta = metas[index];
        const parsed = parseObjectKey(result.key);
        expect(parsed.payloadId).toBe(result.payloadId);
        expect(parsed.taskId).toBe(meta?.taskId);
        expect(parsed.integration).toBe(meta?.integration);
        const loaded = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
        expect(loaded.payload).toEqual({ index });
        expect(loaded.metadata.payloadId).toBe(result.payloadId);
        expect(loaded.metadata.taskId).toBe(meta?.taskId);
      }
    } finally {
      await producer.close();
      await consumer.close();
      await inspector.close();
    }
  });

  it('turns hostile task ids into safe, distinct keys', async () => {
    const { bucket, producer, inspector, startConsumer } = await setUp('keys-hostile');
    const consumer = await startConsumer();
    try {
      const settled = await Promise.allSettled(
        HOSTILE_TASK_IDS.map((taskId) => producer.enqueue({ taskId }, { taskId, integration: '../..' })),
      );
      const failures = settled.flatMap((outcome, index) =>
        outcome.status === 'rejected'
          ? [`taskId of ${HOSTILE_TASK_IDS[index]?.length ?? 0} chars rejected: ${String(outcome.reason)}`]
          : outcome.value.status === 'queued'
            ? []
            : [`taskId ${JSON.stringify(HOSTILE_TASK_IDS[index])} dropped: ${outcome.value.reason}`],
      );
      expect(failures).toEqual([]);
      const results = settled.map((outcome) =>
        queued((outcome as PromiseFulfilledResult<EnqueueResult>).value),
      );

      for (const { key } of results) {
        expect(key.split('/')).not.toContain('..');
        expect(key.split('/')).not.toContain('.');
        expect(key.split('/')).not.toContain('');
        expect(key.startsWith('/')).toBe(false);
        expect(controlCharacterCount(key)).toBe(0);
        expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
        expect(/^[\x21-\x7e]+$/.test(key)).toBe(true);
      }
      const directories = results.map((result) => directoryOf(result.key));
      expect(new Set(directories).size).toBe(HOSTILE_TASK_IDS.length);

      await inspector.waitForArchived(results.map((result) => result.payloadId));
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual(
        results.map((result) => result.key).sort(),
      );
    } finally {
      await producer.close();
      await consumer.close();
      await inspector.close();
    }
  });

  it('gives distinct keys to long task ids that share their first 5000 characters', async () => {
    const { producer, inspector } = await setUp('keys-long');
    try {
      const a = await producer.enqueue({}, { taskId: `${'y'.repeat(5000)}a` });
      const b = await producer.enqueue({}, { taskId: `${'y'.repeat(5000)}b` });
      expect(directoryOf(queued(a).key)).not.toBe(directoryOf(queued(b).key));
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('never makes a second object when a job for an archived payload runs again', async () => {
    const { queueName, bucket, producer, inspector, startConsumer } = await setUp('keys-rerun');
    const consumer = await startConsumer();
    try {
      const results = await Promise.all(
        Array.from({ length: 5 }, async (_, index) =>
          queued(await producer.enqueue({ index }, { taskId: `rerun-${index}` })),
        ),
      );
      await inspector.waitForArchived(results.map((result) => result.payloadId));
      expect(await listPayloadKeys(servers.s3.client, bucket)).toHaveLength(5);

      // The same job again, as a retry after a lost completion would run it.
      for (const result of results) {
        const original = await inspector.redis.hgetall(
          `${inspector.prefix}:${queueName}:${result.payloadId}`,
        );
        expect(original).toEqual({});
        const data: ArchiveJobData = {
          payloadId: result.payloadId,
          key: result.key,
          taskId: parseObjectKey(result.key).taskId,
          enqueuedAt: new Date().toISOString(),
          jsonBytes: 1,
        };
        await inspector.queue.add(ARCHIVE_JOB_NAME, data, { jobId: `${result.payloadId}-again` });
      }
      const outcomes = await Promise.all(
        results.map((result) =>
          waitFor(
            async () => {
              // State first, then the job: a job read before it completed has no return value.
              const jobId = `${result.payloadId}-again`;
              const state = await inspector.queue.getJobState(jobId);
              if (state !== 'completed' && state !== 'failed') return undefined;
              const job = await inspector.queue.getJob(jobId);
              if (state === 'failed') throw new Error(`re-run failed: ${job?.failedReason ?? ''}`);
              return job?.returnvalue as ArchiveJobResult;
            },
            { what: 're-run job to complete', timeoutMs: 20_000 },
          ),
        ),
      );
      for (const outcome of outcomes) expect(outcome.alreadyArchived).toBe(true);
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual(
        results.map((result) => result.key).sort(),
      );
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
    } finally {
      await producer.close();
      await consumer.close();
      await inspector.close();
    }
  });

  it('keeps one object per payload when two jobs archive the same payload at once', async () => {
    const { bucket, producer, inspector, startConsumer } = await setUp('keys-twice');
    try {
      // Admitted with no consumer running; each gets a duplicate job before archiving starts.
      const count = 6;
      const results = await Promise.all(
        Array.from({ length: count }, async (_, index) =>
          queued(await producer.enqueue({ index, body: 'z'.repeat(50_000) }, { taskId: `twice-${index}` })),
        ),
      );
      for (const result of results) {
        const job = await inspector.queue.getJob(result.payloadId);
        if (job === undefined) throw new Error(`job ${result.payloadId} is missing`);
        await inspector.queue.add(ARCHIVE_JOB_NAME, job.data as ArchiveJobData, {
          jobId: `${result.payloadId}-duplicate`,
          removeOnComplete: true,
        });
      }
      const consumer = await startConsumer();
      try {
        await inspector.waitForArchived(results.map((result) => result.payloadId));
        await waitFor(
          async () => {
            const counts = await inspector.counts();
            if ((counts.failed ?? 0) > 0) throw new Error('an archive job failed');
            return (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0
              ? true
              : undefined;
          },
          { what: 'every job to finish', timeoutMs: 20_000 },
        );
      } finally {
        await consumer.close();
      }
      const keys = await listPayloadKeys(servers.s3.client, bucket);
      expect(keys.sort()).toEqual(results.map((result) => result.key).sort());
      for (const [index, result] of results.entries()) {
        const loaded = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
        expect(loaded.payload).toEqual({ index, body: 'z'.repeat(50_000) });
      }
    } finally {
      await producer.close();
      await inspector.close();
    }
  });
});
