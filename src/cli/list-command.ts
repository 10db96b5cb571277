import { listDebugPayloads, type ListedPayload } from '../list-payloads.ts';
import { DebugArchiverError } from '../errors.ts';
import { withArchive } from './archive-from-env.ts';
import { formatBytes, formatTable } from './format.ts';
import { parseTimeBound } from './time-bound.ts';

export interface ListCommandOptions {
  task?: string;
  integration?: string;
  since?: string;
  until?: string;
  limit: string;
  keys?: boolean;
  json?: boolean;
  bucket?: string;
}

function toJson(payload: ListedPayload) {
  return { ...payload, enqueuedAt: payload.enqueuedAt.toISOString() };
}

/** `debug-archiver list`: a table, one key per line (--keys) or JSON (--json). */
export async function runList(options: ListCommandOptions, env: NodeJS.ProcessEnv): Promise<number> {
  const now = new Date();
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new DebugArchiverError(
      'ERR_INVALID_CONFIG',
      `--limit ${JSON.stringify(options.limit)}: expected a whole number above 0`,
    );
  }
  return withArchive(env, options.bucket, async (archive) => {
    const payloads = await listDebugPayloads({
      s3: archive.s3,
      bucket: archive.bucket,
      keyPrefix: archive.keyPrefix,
      taskId: options.task,
      integration: options.integration,
      since: options.since === undefined ? undefined : parseTimeBound(options.since, now, '--since'),
      until: options.until === undefined ? undefined : parseTimeBound(options.until, now, '--until'),
      limit,
    });
    if (options.json === true) {
      process.stdout.write(`${JSON.stringify(payloads.map(toJson), null, 2)}\n`);
    } else if (options.keys === true) {
      for (const payload of payloads) process.stdout.write(`${payload.key}\n`);
    } else if (payloads.length === 0) {
      process.stderr.write('no archived payloads match\n');
    } else {
      process.stdout.write(
        formatTable(
          ['enqueued (UTC)', 'integration', 'task', 'stored', 'key'],
          payloads.map((p) => [
            p.enqueuedAt.toISOString().replace('T', ' ').slice(0, 19),
            p.integration ?? '-',
            p.taskId,
            p.storedBytes === undefined ? '-' : formatBytes(p.storedBytes),
            p.key,
          ]),
        ),
      );
    }
    return 0;
  });
}
