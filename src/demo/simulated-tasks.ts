import { setTimeout as delay } from 'node:timers/promises';
import type { DebugPayloadProducer, EnqueueResult } from '../producer/producer.ts';
import { createPrng } from './prng.ts';
import { samplePayload, type SamplePayload } from './sample-payload.ts';

export interface TaskOutcome {
  seed: number;
  /** The size samplePayload aimed at; the JSON is within a few KB of it. */
  targetBytes: number;
  payload: SamplePayload;
  result: EnqueueResult;
}

export interface SimulatedTasksOptions {
  count: number;
  /** Tasks in progress at once, like a task worker's slots. */
  concurrency: number;
  producer: DebugPayloadProducer;
  signal: AbortSignal;
  /** Called as each task ends, after its enqueue resolved. */
  onOutcome(outcome: TaskOutcome): void;
}

const MIN_PAYLOAD_BYTES = 100 * 1024;
const MAX_PAYLOAD_BYTES = 3 * 1024 * 1024;

/**
 * One task: a few calls to a bank (waits of 20-150 ms, as network-bound work is), then its
 * debugging payload handed to the producer. The seed fixes the payload and the waits.
 */
async function runTask(seed: number, options: SimulatedTasksOptions): Promise<void> {
  // A stream apart from the payload's own, so sizes and waits do not shadow its content.
  const rng = createPrng(seed + 0x51ed);
  // Log-uniform: many payloads of a few hundred KB, a few of several MB, as in production.
  const targetBytes = Math.round(MIN_PAYLOAD_BYTES * (MAX_PAYLOAD_BYTES / MIN_PAYLOAD_BYTES) ** rng.next());
  const calls = rng.int(2, 6);
  for (let call = 0; call < calls; call += 1) {
    await delay(rng.int(20, 150), undefined, { signal: options.signal });
  }
  const payload = samplePayload({ seed, targetBytes });
  const result = await options.producer.enqueue(payload, {
    taskId: payload.task.id,
    integration: payload.task.integration,
  });
  options.onOutcome({ seed, targetBytes, payload, result });
}

/** Runs `count` simulated tasks, `concurrency` at a time, seeds 1 to `count`. */
export async function runSimulatedTasks(options: SimulatedTasksOptions): Promise<void> {
  let next = 1;
  const slot = async (): Promise<void> => {
    while (next <= options.count) {
      options.signal.throwIfAborted();
      const seed = next;
      next += 1;
      await runTask(seed, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, slot));
}
