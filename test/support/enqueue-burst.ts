/**
 * A child process for the cross-process bound tests: `node enqueue-burst.ts '<BurstConfig JSON>'`.
 * Connects a producer, prints `ready`, waits for `go` on stdin, then fires `count` enqueues at
 * once and prints one BurstResult line.
 */
import { createInterface } from 'node:readline';
import type { DropReason } from '../../src/producer/producer.ts';
import { connectChildProducer } from './child-producer.ts';
import { GO_LINE, READY_LINE, type BurstConfig, type BurstResult } from './burst-protocol.ts';
import { exactSizePayload } from './payloads.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as BurstConfig;
const enqueueTimeoutMs = config.enqueueTimeoutMs ?? 1_000;

// Connected before `ready`, so every child fires at once after `go`.
const { redis, producer } = await connectChildProducer({
  redisUrl: config.redisUrl,
  queueName: config.queueName,
  enqueueTimeoutMs,
  ...(config.maxQueued === undefined ? {} : { maxQueued: config.maxQueued }),
  ...(config.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: config.maxQueuedBytes }),
  ...(config.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: config.maxPayloadBytes }),
  ...(config.admissionPolicy === undefined ? {} : { admissionPolicy: config.admissionPolicy }),
});
const outcomeOf = (index: number): 'failed' | 'succeeded' | undefined =>
  config.outcome === 'mixed' ? (index % 2 === 0 ? 'succeeded' : 'failed') : config.outcome;
const payloads = Array.from({ length: config.count }, (_, index) =>
  exactSizePayload(config.payloadBytes, config.tag, index),
);

const lines = createInterface({ input: process.stdin });
process.stdout.write(`${READY_LINE}\n`);
for await (const line of lines) if (line.trim() === GO_LINE) break;
lines.close();

const settled = await Promise.allSettled(
  payloads.map((payload, index) => {
    const outcome = outcomeOf(index);
    return producer.enqueue(payload, {
      taskId: `${config.tag}-${index}`,
      ...(outcome === undefined ? {} : { outcome }),
    });
  }),
);
const result: BurstResult = { tag: config.tag, queued: 0, queuedBytes: 0, dropped: {}, rejected: 0 };
for (const outcome of settled) {
  if (outcome.status === 'rejected') {
    result.rejected += 1;
  } else if (outcome.value.status === 'queued') {
    result.queued += 1;
    result.queuedBytes += config.payloadBytes;
  } else {
    const reason: DropReason = outcome.value.reason;
    result.dropped[reason] = (result.dropped[reason] ?? 0) + 1;
  }
}
process.stdout.write(`${JSON.stringify(result)}\n`);
await producer.close();
await redis.quit();
