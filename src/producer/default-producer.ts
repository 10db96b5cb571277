import { producerSettingsFromEnv } from '../config.ts';
import {
  createDebugPayloadProducer,
  type DebugPayloadMeta,
  type DebugPayloadProducer,
  type EnqueueResult,
} from './producer.ts';

let shared: DebugPayloadProducer | undefined;

/**
 * Queues a debugging payload for archiving through the process-wide producer, which is made on
 * first use from the environment (REDIS_URL, DEBUG_ARCHIVE_* variables; see the README). Never
 * throws for operational trouble: see DebugPayloadProducer.enqueue. A bad environment throws a
 * ConfigError on the first call, naming every bad variable.
 */
export function enqueueDebugPayload(payload: unknown, meta: DebugPayloadMeta): Promise<EnqueueResult> {
  shared ??= createDebugPayloadProducer(producerSettingsFromEnv(process.env));
  return shared.enqueue(payload, meta);
}

/** Releases the process-wide producer (its Redis connection); the next enqueue makes a new one. */
export async function closeDebugPayloadProducer(): Promise<void> {
  const producer = shared;
  shared = undefined;
  await producer?.close();
}
