import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { SingleBar, Presets } from 'cli-progress';
import { DebugArchiverError, PayloadNotFoundError } from '../errors.ts';
import { listDebugPayloads } from '../list-payloads.ts';
import { openDebugPayloadStream, type PayloadRef } from '../pull.ts';
import { withArchive, type ArchiveAccess } from './archive-from-env.ts';

export interface PullCommandOptions {
  output?: string;
  bucket?: string;
  pretty?: boolean;
  all?: boolean;
}

/** Objects smaller than this download without a progress bar. */
const PROGRESS_MIN_BYTES = 1024 * 1024;

async function writePayload(
  archive: ArchiveAccess,
  ref: PayloadRef,
  output: string | undefined,
  pretty: boolean,
): Promise<string> {
  let bar: SingleBar | undefined;
  const { key, stream } = await openDebugPayloadStream({
    s3: archive.s3,
    bucket: archive.bucket,
    ...ref,
    onProgress: (read, total) => {
      if (bar === undefined && process.stderr.isTTY && total !== undefined && total >= PROGRESS_MIN_BYTES) {
        bar = new SingleBar(
          {
            stream: process.stderr,
            format: 'pulling [{bar}] {percentage}% | {value}/{total} bytes',
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        bar.start(total, 0);
      }
      bar?.update(read);
    },
  });
  // --pretty has to hold the whole payload to indent it; without it memory stays bounded.
  const source = pretty
    ? Readable.from([`${JSON.stringify(JSON.parse(await text(stream)), null, 2)}\n`])
    : stream;
  const sink: Writable = output === undefined ? process.stdout : createWriteStream(output);
  try {
    await pipeline(source, sink, { end: output !== undefined });
  } catch (error) {
    if (output !== undefined) await rm(output, { force: true });
    throw error;
  } finally {
    bar?.stop();
  }
  return key;
}

/**
 * `debug-archiver pull <key>` or `pull --task ID [--all]`: streams the decoded, verified JSON
 * to a file or stdout. With --all, every payload of the task goes into the folder given by -o.
 */
export async function runPull(
  key: string | undefined,
  options: PullCommandOptions & { task?: string },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  if ((key === undefined) === (options.task === undefined)) {
    throw new DebugArchiverError('ERR_INVALID_CONFIG', 'pull needs either a key or --task ID');
  }
  return withArchive(env, options.bucket, async (archive) => {
    if (options.task !== undefined && options.all === true) {
      if (options.output === undefined) {
        throw new DebugArchiverError(
          'ERR_INVALID_CONFIG',
          'pull --all needs -o DIR: each payload becomes DIR/<payloadId>.json',
        );
      }
      const payloads = await listDebugPayloads({
        s3: archive.s3,
        bucket: archive.bucket,
        keyPrefix: archive.keyPrefix,
        taskId: options.task,
        limit: Number.MAX_SAFE_INTEGER,
      });
      if (payloads.length === 0)
        throw new PayloadNotFoundError(`no archived payload for task ${JSON.stringify(options.task)}`);
      await mkdir(options.output, { recursive: true });
      for (const payload of payloads) {
        const file = join(options.output, `${payload.payloadId}.json`);
        await writePayload(archive, { key: payload.key }, file, options.pretty === true);
        process.stderr.write(`wrote ${file}\n`);
      }
      return 0;
    }
    const ref: PayloadRef =
      key !== undefined ? { key } : { taskId: options.task ?? '', keyPrefix: archive.keyPrefix };
    const pulled = await writePayload(archive, ref, options.output, options.pretty === true);
    if (options.output !== undefined) process.stderr.write(`wrote ${options.output} (${pulled})\n`);
    return 0;
  });
}
