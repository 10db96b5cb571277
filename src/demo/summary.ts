import { relative } from 'node:path';
import type { DropReason } from '../producer/producer.ts';
import type { ArchivedPayloadMetadata } from '../storage/object-metadata.ts';
import type { DemoRedis } from './demo-redis.ts';
import type { DemoS3 } from './demo-s3.ts';
import { formatBytes, formatSeconds } from './format.ts';
import type { WorkerExit } from './worker-process.ts';

export interface DemoResults {
  tasks: number;
  queued: number;
  /** About: the sum of the payloads' target sizes. */
  queuedBytes: number;
  dropped: Record<DropReason, number>;
  archived: number;
  enqueueMs: number;
  archiveMs: number;
  pulled: { key: string; metadata: ArchivedPayloadMetadata };
  worker: WorkerExit;
  keys: string[];
}

export interface DemoPlaces {
  redis: DemoRedis;
  s3: DemoS3;
  queueName: string;
  redisPrefix: string;
  /** The folder the demo runs in, for relative paths. */
  cwd: string;
}

/** Port `npx s3rver` listens on by default; the pull instructions serve the kept folder there. */
const S3RVER_PORT = 4568;

function describeExit(exit: WorkerExit): string {
  if (exit.code === 0) return 'exited 0 after draining: graceful shutdown';
  if (exit.signal !== null) return `was killed by ${exit.signal}: it did not exit on its own after SIGTERM`;
  return `exited with code ${exit.code ?? 'unknown'}`;
}

function droppedLine(dropped: Record<DropReason, number>): string {
  const reasons = Object.entries(dropped).filter(([, count]) => count > 0);
  if (reasons.length === 0) return 'none';
  return reasons.map(([reason, count]) => `${reason} ${count}`).join(', ');
}

function ratio(part: number | undefined, whole: number | undefined): string {
  return part === undefined || whole === undefined || whole === 0
    ? ''
    : ` (${((100 * part) / whole).toFixed(0)}% of the JSON)`;
}

/** The result counts, the verified pull and the worker's exit. */
export function resultLines(results: DemoResults): string[] {
  const { metadata } = results.pulled;
  return [
    `Enqueued ${results.queued} of ${results.tasks} payloads (about ${formatBytes(results.queuedBytes)} of JSON) in ${formatSeconds(results.enqueueMs)}; dropped: ${droppedLine(results.dropped)}.`,
    `Archived ${results.archived} of ${results.queued} in ${formatSeconds(results.archiveMs)} from the start.`,
    `Pulled back ${results.pulled.key}`,
    `  OK: identical to what was enqueued, secrets redacted; task ${metadata.taskId} (${metadata.integration ?? 'no integration'})`,
    `  redaction: ${metadata.redaction ?? 'not recorded'}`,
    `  json ${formatBytes(metadata.jsonBytes ?? 0)} -> gzip ${formatBytes(metadata.gzipBytes ?? 0)}${ratio(metadata.gzipBytes, metadata.jsonBytes)} -> base64 ${formatBytes(metadata.base64Bytes ?? 0)} stored`,
    `Worker: sent SIGTERM, it ${describeExit(results.worker)}.`,
  ];
}

/** Where the servers, the objects and the by-hand pull command are. */
export function placeLines(places: DemoPlaces, keys: readonly string[]): string[] {
  const { redis, s3 } = places;
  const lines = [
    'Where everything is:',
    `  Redis   ${redis.url} (${redis.origin}); queue ${places.queueName}, key prefix ${places.redisPrefix}`,
    `  S3      ${s3.endpoint} (${s3.origin}), bucket ${s3.bucket}`,
  ];
  if (s3.embedded !== undefined) {
    lines.push(
      `  folder  ${s3.embedded.directory}/${s3.bucket} (kept after the demo: the archived objects are there)`,
    );
  }
  lines.push('  some keys:', ...keys.map((key) => `    ${key}`));
  const key = keys[0] ?? '<key>';
  lines.push('', 'Pull one by hand:');
  if (s3.embedded === undefined) {
    lines.push(
      `  # with the AWS credentials the demo ran with in the environment`,
      `  S3_ENDPOINT=${s3.endpoint} DEBUG_ARCHIVE_BUCKET=${s3.bucket} npx debug-archiver pull ${key} -o payload.json`,
    );
  } else {
    const folder = relative(places.cwd, s3.embedded.directory) || '.';
    lines.push(
      `  # the demo's S3 store stopped with it: serve the kept folder again (leave it running)`,
      `  npx s3rver -d ${folder} -p ${S3RVER_PORT} --silent`,
      `  # then, in another terminal:`,
      `  S3_ENDPOINT=http://127.0.0.1:${S3RVER_PORT} DEBUG_ARCHIVE_BUCKET=${s3.bucket} AWS_ACCESS_KEY_ID=${s3.embedded.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.embedded.secretAccessKey} \\`,
      `    npx debug-archiver pull ${key} -o payload.json`,
    );
  }
  lines.push(
    '  (npx debug-archiver runs the build: `npm run build` first; or, from the sources,',
    `   scripts/with-node.sh node src/cli/main.ts pull ${key} -o payload.json with the same variables)`,
  );
  return lines;
}
