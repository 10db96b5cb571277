import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Express, Router } from 'express';

/** Where the UI is served on the consumer's HTTP port. */
export const QUEUE_UI_PATH = '/queues';

/** Longest string the UI is sent: object keys fit whole, task ids (up to 64 Ki characters) do not. */
const MAX_TEXT = 1_024;
/** Longest job name or field name, where one line each keeps the page readable. */
const MAX_NAME = 80;
/** Most fields shown of one job's data or return value (ours have under ten). */
const MAX_FIELDS = 20;

function clip(text: string, max = MAX_TEXT): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/** A scalar as it is (strings clipped); anything nested is named, never sent. */
function small(value: unknown): unknown {
  if (typeof value === 'string') return clip(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  return `(${Array.isArray(value) ? 'array' : typeof value} hidden)`;
}

/**
 * A job's data or return value as the page gets it: the top-level scalar fields, clipped, at
 * most MAX_FIELDS of them (about 20 KiB at worst). Ours are a few short fields; this bounds what
 * anything else in the queue (a job added by another tool, or one carrying payload bytes) can
 * make the page fetch and render, without listing our fields here a second time.
 */
function summarize(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return small(value);
  const entries = Object.entries(value);
  const shown: Record<string, unknown> = {};
  for (const [field, fieldValue] of entries.slice(0, MAX_FIELDS))
    shown[clip(field, MAX_NAME)] = small(fieldValue);
  if (entries.length > MAX_FIELDS) shown['…'] = `${entries.length - MAX_FIELDS} more fields hidden`;
  return shown;
}

/** The job list shows "archive <task id>" rather than the same name on every row. */
function jobName(job: unknown): string {
  const { name, data } = (job ?? {}) as { name?: unknown; data?: { taskId?: unknown } };
  const base = typeof name === 'string' ? clip(name, MAX_NAME) : '';
  return typeof data?.taskId === 'string' ? `${base} ${clip(data.taskId, MAX_NAME)}` : base;
}

export interface QueueUiOptions {
  /** Read-only (the default): no retry, remove, clean, pause or add from the UI. */
  readOnly?: boolean;
}

/**
 * Mounts bull-board for `queue` at `/queues`. It has no authentication of its own: mount it only
 * when asked for (`DEBUG_ARCHIVE_QUEUE_UI`), behind a network policy or an authenticating proxy.
 *
 * Kept light for the browser and for Redis: job data and return values reach the page only as
 * their top-level scalar fields (clipped, at most 20), and the worker panel is off: its
 * `CLIENT LIST` on every poll would list every producer connection of every task worker.
 */
export function mountQueueUi(app: Express, queue: Queue, options: QueueUiOptions = {}): void {
  const adapter = new BullMQAdapter(queue, {
    readOnlyMode: options.readOnly ?? true,
    description: 'payload identities only; the payload bytes wait in Redis beside the queue',
  });
  adapter.setFormatter('data', summarize);
  adapter.setFormatter('returnValue', summarize);
  adapter.setFormatter('name', jobName);
  // No progress is reported by archive jobs; whatever is there is clipped like any other field.
  adapter.setFormatter('progress', small);

  const server = new ExpressAdapter();
  server.setBasePath(QUEUE_UI_PATH);
  createBullBoard({
    queues: [adapter],
    serverAdapter: server,
    options: {
      uiConfig: {
        boardTitle: 'debug-archiver',
        hideDocsLink: true,
        showWorkers: false,
      },
    },
  });
  // bull-board types its router as `any`; it is an express router of the same express.
  app.use(QUEUE_UI_PATH, server.getRouter() as Router);
}
