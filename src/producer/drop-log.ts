import type { Logger } from '../logger.ts';
import type { DebugPayloadMeta, DropReason } from './producer.ts';

const QUIET_MS = 10_000;

function describe(detail: unknown): string {
  if (detail instanceof Error) return detail.message;
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}

/**
 * Logs drops and connection errors without flooding: the first of each kind at once, then at
 * most one line per kind every 10 s carrying the count since the last line. Timestamps, not
 * timers, decide when to log.
 */
export class DropLog {
  readonly #logger: Logger;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  record(reason: DropReason, meta: DebugPayloadMeta, detail?: unknown): void {
    const suppressed = this.#due(reason);
    if (suppressed === undefined) return;
    this.#logger.warn(
      {
        reason,
        taskId: meta.taskId,
        integration: meta.integration,
        suppressed,
        ...(detail === undefined ? {} : { detail: describe(detail) }),
      },
      `debug payload dropped: ${reason}`,
    );
  }

  evicted(count: number, meta: DebugPayloadMeta): void {
    const suppressed = this.#due('evicted');
    if (suppressed === undefined) return;
    this.#logger.warn(
      { evicted: count, forTaskId: meta.taskId, outcome: meta.outcome, suppressed },
      'queue full: evicted waiting debug payloads to admit a newer or more valuable one',
    );
  }

  connectionError(error: Error): void {
    const suppressed = this.#due('connection');
    if (suppressed === undefined) return;
    this.#logger.warn({ err: error.message, suppressed }, 'debug-archiver redis connection error');
  }

  #due(kind: string): number | undefined {
    const now = Date.now();
    const last = this.#last.get(kind);
    if (last && now - last.at < QUIET_MS) {
      last.suppressed += 1;
      return undefined;
    }
    this.#last.set(kind, { at: now, suppressed: 0 });
    return last?.suppressed ?? 0;
  }
}
