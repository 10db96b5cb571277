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
 * rejects for operational trouble: see DebugPayloadProducer.enqueue. A bad environment rejects
 * the first call with a ConfigError naming every bad variable, so a misconfigured deployment
 * is seen at once.
 */
export async function enqueueDebugPayload(payload: unknown, meta: DebugPayloadMeta): Promise<EnqueueResult> {
  shared ??= createDebugPayloadProducer(producerSettingsFromEnv(process.env));
  return shared.enqueue(payload, meta);
}

/** Releases the process-wide producer (its Redis connection); the next enqueue makes a new one. */
export async function closeDebugPayloadProducer(): Promise<void> {
  const producer = shared;
  shared = undefined;
  await producer?.close();
}
