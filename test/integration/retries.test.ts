import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/free-port.ts';
import type { EnqueueResult } from '../../src/producer/producer.ts';
import { loadDebugPayload } from '../../src/pull.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { wordyText } from '../support/payloads.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

type Queued = Extract<EnqueueResult, { status: 'queued' }>;

function queued(result: EnqueueResult): Queued {
  if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
  return result;
}

function uniqueBucketName(label: string): string {
  return `${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

describe('archive retries', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  const unreachable: [string, () => Promise<{ bucket: string; endpoint: string }>][] = [
    [
      'a bucket that does not exist',
      () => Promise.resolve({ bucket: uniqueBucketName('missing'), endpoint: servers.s3.endpoint }),
    ],
    [
      'an S3 endpoint where nothing listens',
      async () => ({
        bucket: await servers.s3.createBucket(),
        endpoint: `http://127.0.0.1:${await freePort()}`,
      }),
    ],
  ];

  it.each(unreachable)(
    'keeps a payload that never reaches %s in the failed set, counted, with small jobs and events',
    async (_name, target) => {
      const { bucket, endpoint } = await target();
      const queueName = uniqueQueueName('retries-failed');
      const payload = { body: wordyText(200_000, 5) };
      const json = JSON.stringify(payload);
      const producer = guard.producer({
        redisUrl: servers.redis.url,
        queueName,
        attempts: 2,
        backoffDelayMs: 50,
      });
      const consumer = await guard.consumer({
        redisUrl: servers.redis.url,
        queueName,
        bucket,
        s3Endpoint: endpoint,
        credentials: servers.s3.credentials,
      });
      const inspector = guard.inspector(servers.redis.url, queueName);
      try {
        const result = queued(
          await producer.enqueue(payload, { taskId: 'doomed', integration: 'acme-bank' }),
        );
        const counts = await waitFor(
          async () => {
            const current = await inspector.counts();
            return current.failed === 1 ? current : undefined;
          },
          { what: 'the job to land in the failed set', timeoutMs: 20_000 },
        );
        expect((counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0)).toBe(0);

        // Not lost: still admitted, still counted against the bounds, bytes still in Redis.
        expect(await inspector.usage()).toEqual({ payloads: 1, bytes: Buffer.byteLength(json) });
        expect(await inspector.ledger.readPayload(result.payloadId)).toBe(json);

        const job = await inspector.queue.getJob(result.payloadId);
        if (job === undefined) throw new Error('the failed job is gone');
        expect(job.attemptsMade).toBe(2);
        expect(JSON.stringify(job.data).length).toBeLessThan(1024);
        expect(JSON.stringify(job.returnvalue ?? null).length).toBeLessThan(1024);
        expect(JSON.stringify(job.data)).not.toContain(payload.body.slice(0, 100));

        const entries = await inspector.redis.xrange(inspector.eventsKey, '-', '+');
        expect(entries.length).toBeGreaterThan(0);
        const events = entries.map(([, fields]) => fields);
        expect(events.some((fields) => fields.includes('failed'))).toBe(true);
        for (const fields of events) {
          expect(Buffer.byteLength(fields.join('')), `event ${fields.join(' ').slice(0, 200)}`).toBeLessThan(
            2048,
          );
        }
      } finally {
        await producer.close();
        await consumer.close();
        await inspector.close();
      }
    },
  );

  it('archives a payload once when S3 starts working between attempts', async () => {
    const queueName = uniqueQueueName('retries-recover');
    const bucket = uniqueBucketName('late');
    const payload = { body: wordyText(50_000, 9), n: 1 };
    const producer = guard.producer({
      redisUrl: servers.redis.url,
      queueName,
      attempts: 10,
      backoffDelayMs: 200,
    });
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
    });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const result = queued(await producer.enqueue(payload, { taskId: 'late-bucket' }));
      await waitFor(
        async () => {
          const job = await inspector.queue.getJob(result.payloadId);
          return job !== undefined && job.attemptsMade >= 1 ? true : undefined;
        },
        { what: 'a first failed attempt', timeoutMs: 20_000 },
      );
      await servers.s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
      await inspector.waitForArchived([result.payloadId], 30_000);

      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual([result.key]);
      const loaded = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
      expect(loaded.payload).toEqual(payload);
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
      expect((await inspector.counts()).failed ?? 0).toBe(0);
    } finally {
      await producer.close();
      await consumer.close();
      await inspector.close();
    }
  });
});
