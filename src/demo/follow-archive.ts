import { setTimeout as delay } from 'node:timers/promises';
import { DebugArchiverError } from '../errors.ts';
import type { DebugPayloadProducer } from '../producer/producer.ts';
import type { ArchiveWatch } from './archive-watch.ts';
import type { ProgressView } from './progress.ts';
import { runSimulatedTasks, type TaskOutcome } from './simulated-tasks.ts';
import type { WorkerProcess } from './worker-process.ts';

export interface FollowOptions {
  tasks: number;
  concurrency: number;
  producer: DebugPayloadProducer;
  watch: ArchiveWatch;
  worker: WorkerProcess;
  progress: ProgressView;
  signal: AbortSignal;
  /** How long archiving may go on once the last task enqueued. */
  drainTimeoutMs: number;
  onOutcome(outcome: TaskOutcome): void;
}

export interface FollowResult {
  enqueueMs: number;
  archiveMs: number;
  archived: number;
}

const POLL_MS = 200;

/**
 * Runs the simulated tasks and, meanwhile, follows the worker archiving what they queued,
 * until every queued payload is archived. Fails when the worker dies or the drain deadline
 * passes.
 */
export async function enqueueAndFollow(options: FollowOptions): Promise<FollowResult> {
  const { watch, worker, progress, signal } = options;
  const started = Date.now();
  const tally = { finished: 0, queued: 0, dropped: 0 };
  const enqueue: { endedAt?: number; error?: Error } = {};
  const stopTasks = new AbortController();
  const enqueueing = runSimulatedTasks({
    count: options.tasks,
    concurrency: options.concurrency,
    producer: options.producer,
    signal: AbortSignal.any([signal, stopTasks.signal]),
    onOutcome: (outcome) => {
      tally.finished += 1;
      if (outcome.result.status === 'queued') {
        tally.queued += 1;
        watch.track(outcome.result.payloadId);
      } else {
        tally.dropped += 1;
      }
      options.onOutcome(outcome);
    },
  }).then(
    () => {
      enqueue.endedAt = Date.now();
    },
    (error: unknown) => {
      enqueue.error = error instanceof Error ? error : new Error(`a simulated task failed: ${String(error)}`);
    },
  );

  try {
    for (;;) {
      if (enqueue.error !== undefined) throw enqueue.error;
      signal.throwIfAborted();
      const archived = await watch.archived();
      progress.update({ tasks: options.tasks, ...tally, archived, waitingBytes: await watch.waitingBytes() });
      const { endedAt } = enqueue;
      if (endedAt !== undefined && archived === watch.tracked) {
        return { enqueueMs: endedAt - started, archiveMs: Date.now() - started, archived };
      }
      if (worker.hasExited()) {
        throw new DebugArchiverError(
          'ERR_LOCAL_SERVER',
          `the worker process exited before archiving everything (${archived} of ${watch.tracked} archived)`,
        );
      }
      if (endedAt !== undefined && Date.now() - endedAt > options.drainTimeoutMs) {
        throw new DebugArchiverError(
          'ERR_LOCAL_SERVER',
          `the worker archived ${archived} of ${watch.tracked} payloads and did not finish within ${options.drainTimeoutMs / 1_000} s of the last enqueue`,
        );
      }
      await delay(POLL_MS, undefined, { signal });
    }
  } finally {
    // On failure the tasks stop early; either way the producer must not be closed under a task
    // still enqueueing, so they are waited for.
    stopTasks.abort();
    await enqueueing;
  }
}
