import { describe, expect, it } from 'vitest';
import { loadDebugPayload } from '../../src/pull.ts';
import {
  PARSED_REDACTION_MAX_BYTES,
  WHOLE_REDACTION_MAX_BYTES,
} from '../../src/consumer/archive-processor.ts';
import { formatRedactionSummary, REDACTED, Redactor } from '../../src/redaction/redactor.ts';
import { createS3Client } from '../../src/storage/s3-client.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { listObjects } from '../support/s3-objects.ts';
import { waitFor } from '../support/wait.ts';

const guard = useLeakGuard();
const servers = useTestServers();

const SECRET = 'hunter2-very-secret';
const recorded = () => ({
  exchanges: [
    {
      request: {
        url: `https://bank.example/login?user=alice&access_token=${SECRET}`,
        headers: { Authorization: `Bearer ${SECRET}`, Accept: 'application/json' },
        body: JSON.stringify({ username: 'alice', password: SECRET }),
      },
      response: { status: 200, body: '<html>ok</html>' },
    },
  ],
});

async function archive(
  queueName: string,
  producerOptions: Record<string, unknown>,
  consumerOptions: Record<string, unknown>,
  meta: { taskId: string; integration?: string; outcome?: 'failed' | 'succeeded' },
) {
  const bucket = await servers.s3.createBucket();
  const producer = guard.producer({ redisUrl: servers.redis.url, queueName, ...producerOptions });
  const result = await producer.enqueue(recorded(), meta);
  if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
  const inspector = guard.inspector(servers.redis.url, queueName);
  const inRedis = await inspector.ledger.readPayload(result.payloadId);
  const consumer = await guard.consumer({
    ...consumerTarget(servers, queueName, bucket),
    ...consumerOptions,
  });
  await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
    what: 'the payload to be archived',
    timeoutMs: 20_000,
  });
  await consumer.close();
  await inspector.close();
  await producer.close();
  const pulled = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
  return { inRedis: inRedis ?? '', pulled };
}

describe('secrets', () => {
  it('are redacted by the consumer by default, with a summary in the metadata', async () => {
    const { inRedis, pulled } = await archive(uniqueQueueName('redact-consumer'), {}, {}, { taskId: 't' });
    expect(inRedis).toContain(SECRET);
    const text = JSON.stringify(pulled.payload);
    expect(text).not.toContain(SECRET);
    expect(text).toContain(REDACTED);
    expect(pulled.payload).toMatchObject({
      exchanges: [{ request: { url: 'https://bank.example/login?user=alice&access_token=REDACTED' } }],
    });
    expect(pulled.metadata.redaction).toBe(
      'total=3 key=2 query=1 json_body=1 names=access_token,authorization,password',
    );
  });

  it('never reach Redis when the producer redacts', async () => {
    const { inRedis, pulled } = await archive(
      uniqueQueueName('redact-producer'),
      { redactInProducer: true },
      {},
      { taskId: 't' },
    );
    expect(inRedis).not.toContain(SECRET);
    expect(JSON.stringify(pulled.payload)).not.toContain(SECRET);
    expect(pulled.metadata.redaction).toBe(
      'total=3 key=2 query=1 json_body=1 names=access_token,authorization,password',
    );
  });

  it('are kept when redaction is turned off, and the metadata says so', async () => {
    const { pulled } = await archive(uniqueQueueName('redact-off'), {}, { redact: false }, { taskId: 't' });
    expect(JSON.stringify(pulled.payload)).toContain(SECRET);
    expect(pulled.metadata.redaction).toBe('off');
  });

  it.each([
    ['on a redaction thread, read whole', 12, PARSED_REDACTION_MAX_BYTES, WHOLE_REDACTION_MAX_BYTES, {}],
    ['read in steps, over the size read whole', 180, WHOLE_REDACTION_MAX_BYTES, Number.POSITIVE_INFINITY, {}],
    [
      'read in steps on the event loop, with no redaction threads',
      12,
      PARSED_REDACTION_MAX_BYTES,
      WHOLE_REDACTION_MAX_BYTES,
      { redactionThreads: 0 },
    ],
  ])(
    'are redacted by suspects %s, to what parsing the whole would give',
    async (_how, pageCount, over, upTo, consumerOptions) => {
      const queueName = uniqueQueueName('redact-large');
      const bucket = await servers.s3.createBucket();
      const producer = guard.producer({
        redisUrl: servers.redis.url,
        queueName,
        maxPayloadBytes: 64 * 1024 ** 2,
      });
      const inspector = guard.inspector(servers.redis.url, queueName);
      const payload = {
        ...recorded(),
        pages: Array.from({ length: pageCount }, (_, i) => `<p>${String(i)}</p>`.repeat(10_000)),
      };
      const result = await producer.enqueue(payload, { taskId: 'large' });
      if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
      const stored = (await inspector.ledger.readPayload(result.payloadId)) ?? '';
      expect(stored.length).toBeGreaterThan(over);
      expect(stored.length).toBeLessThanOrEqual(upTo);
      const consumer = await guard.consumer({
        ...consumerTarget(servers, queueName, bucket),
        ...consumerOptions,
      });
      try {
        await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
          what: 'the payload to be archived',
          timeoutMs: 60_000,
        });
        const pulled = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
        const whole = new Redactor().redactInPlace(JSON.parse(stored) as unknown);
        expect(JSON.stringify(pulled.payload)).toBe(JSON.stringify(whole.value));
        expect(JSON.stringify(pulled.payload)).not.toContain(SECRET);
        expect(pulled.metadata.redaction).toBe(formatRedactionSummary(whole.summary));
      } finally {
        await consumer.close();
        await inspector.close();
        await producer.close();
      }
    },
  );

  it('fail at once, and stay counted, when the stored bytes to redact are not JSON', async () => {
    const queueName = uniqueQueueName('redact-corrupt');
    const bucket = await servers.s3.createBucket();
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
    const inspector = guard.inspector(servers.redis.url, queueName);
    const result = await producer.enqueue(recorded(), { taskId: 'corrupt' });
    if (result.status !== 'queued') throw new Error(`dropped: ${result.reason}`);
    // As if something else wrote over it: JSON cut short, under the payload's key.
    const stored = (await inspector.ledger.readPayload(result.payloadId)) ?? '';
    await inspector.redis.set(inspector.ledger.payloadKey(result.payloadId), stored.slice(0, 40));
    const consumer = await guard.consumer(consumerTarget(servers, queueName, bucket));
    try {
      const failed = await waitFor(async () => ((await inspector.counts()).failed === 1 ? true : undefined), {
        what: 'the job to fail',
        timeoutMs: 20_000,
      });
      expect(failed).toBe(true);
      const job = await inspector.queue.getJob(result.payloadId);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/is not JSON/);
      expect(await inspector.isAdmitted(result.payloadId)).toBe(true);
      expect(await listObjects(servers.s3.client, bucket)).toEqual([]);
    } finally {
      await consumer.close();
      await inspector.close();
      await producer.close();
    }
  });
});

describe('storage', () => {
  it('asks S3 for encryption at rest, the storage class and lifecycle tags', async () => {
    const seen: Record<string, unknown>[] = [];
    const client = createS3Client({
      region: 'us-east-1',
      endpoint: servers.s3.endpoint,
      maxSockets: 8,
      credentials: servers.s3.credentials,
    });
    // Observes the requests the consumer sends to the real server; nothing is faked.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (
          context.commandName === 'PutObjectCommand' &&
          !String((args.input as { Key?: string }).Key).includes('/by-task/')
        ) {
          seen.push(args.input as Record<string, unknown>);
        }
        return next(args);
      },
      { step: 'initialize', name: 'recordPuts' },
    );
    try {
      await archive(
        uniqueQueueName('storage'),
        {},
        { s3: client, kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/test', storageClass: 'STANDARD_IA' },
        { taskId: 't', integration: 'acme bank/é', outcome: 'failed' },
      );
    } finally {
      client.destroy();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/test',
      StorageClass: 'STANDARD_IA',
      Tagging: 'integration=acme+bank%2F%C3%A9&outcome=failed',
    });
  });
});
