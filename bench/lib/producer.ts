import {
  createDebugPayloadProducer,
  type DebugPayloadMeta,
  type DebugPayloadProducer,
  type ProducerOptions,
} from '../../src/producer/producer.ts';
import { silentLogger } from './pipeline.ts';

/**
 * A producer whose bounds no benchmark reaches (queue length and bytes, payload size, CPU share,
 * bytes in flight), so what a benchmark times is the path it measures, never admission. The
 * options given (the queue, the connection, a timeout) come on top.
 */
export function producerThatDropsNothing(options: ProducerOptions): DebugPayloadProducer {
  return createDebugPayloadProducer({
    maxQueued: 1_000_000,
    maxQueuedBytes: 16 * 1024 ** 3,
    maxCpuShare: 1,
    maxPayloadBytes: 512 * 1024 ** 2,
    maxInFlightBytes: 2 * 1024 ** 3,
    logger: silentLogger,
    ...options,
  });
}

/** Enqueues, and fails the benchmark on any drop: a dropped payload would leave its numbers wrong. */
export async function enqueueOrThrow(
  producer: DebugPayloadProducer,
  payload: unknown,
  meta: DebugPayloadMeta,
): Promise<void> {
  const result = await producer.enqueue(payload, meta);
  if (result.status !== 'queued')
    throw new Error(`enqueue of ${meta.taskId} dropped: ${JSON.stringify(result)}`);
}
