import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLeakGuard } from '../support/leak-guard.ts';
import { startTestCluster, type TestCluster } from '../support/redis-cluster.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { startTestS3, uniqueQueueName, type TestS3 } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const guard = useLeakGuard();
let cluster: TestCluster;
let s3: TestS3;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startTestCluster(), startTestS3()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([cluster.destroy(), s3.destroy()]);
});

describe('Redis Cluster', () => {
  it('queues with exact bounds and archives on three masters, the hash-tagged keys in one slot', async () => {
    const queueName = uniqueQueueName('cluster');
    const bucket = await s3.createBucket();
    const producer = guard.producer({ redisUrl: cluster.url, redisCluster: true, queueName, maxQueued: 15 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        producer.enqueue({ index, body: 'x'.repeat(2_000) }, { taskId: `c${index}` }),
      ),
    );
    expect(results.filter((result) => result.status === 'queued')).toHaveLength(15);
    expect(
      results.filter((result) => result.status === 'dropped' && result.reason === 'queue_full'),
    ).toHaveLength(5);

    const consumer = await guard.consumer({
      redisUrl: cluster.url,
      redisCluster: true,
      queueName,
      bucket,
      s3Endpoint: s3.endpoint,
      credentials: s3.credentials,
    });
    try {
      await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
        what: 'the cluster queue to drain',
        timeoutMs: 30_000,
      });
      expect(await listPayloadKeys(s3.client, bucket)).toHaveLength(15);
      expect(producer.stats().queued).toBe(15);
    } finally {
      await consumer.close();
      await producer.close();
    }
  });
});
