import { describeDebugPayload, type PayloadRef } from '../pull.ts';
import { withArchive } from './archive-from-env.ts';
import { formatBytes, formatTable } from './format.ts';

/** `debug-archiver show`: metadata and sizes, without downloading the body. */
export async function runShow(
  ref: PayloadRef,
  options: { json?: boolean; bucket?: string },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  return withArchive(env, options.bucket, async (archive) => {
    const found = await describeDebugPayload({
      s3: archive.s3,
      bucket: archive.bucket,
      ...('key' in ref ? ref : { taskId: ref.taskId, keyPrefix: archive.keyPrefix }),
    });
    const { metadata } = found;
    if (options.json === true) {
      process.stdout.write(
        `${JSON.stringify({ key: found.key, storedBytes: found.storedBytes, lastModified: found.lastModified, ...metadata }, null, 2)}\n`,
      );
      return 0;
    }
    const size = (bytes: number | undefined): string =>
      bytes === undefined ? '-' : `${formatBytes(bytes)} (${bytes})`;
    const ratio =
      metadata.jsonBytes !== undefined && metadata.gzipBytes !== undefined && metadata.gzipBytes > 0
        ? `${(metadata.jsonBytes / metadata.gzipBytes).toFixed(2)}x`
        : '-';
    process.stdout.write(
      formatTable(
        ['field', 'value'],
        [
          ['key', found.key],
          ['task', metadata.taskId],
          ['integration', metadata.integration ?? '-'],
          ['payload id', metadata.payloadId],
          ['enqueued at', metadata.enqueuedAt],
          ['archived at', found.lastModified?.toISOString() ?? '-'],
          ['json', size(metadata.jsonBytes)],
          ['gzip', size(metadata.gzipBytes)],
          ['base64 (stored)', size(found.storedBytes)],
          ['compression', ratio],
          ['sha-256 of json', metadata.jsonSha256 ?? '-'],
          ['layers', metadata.encoding],
        ],
      ),
    );
    return 0;
  });
}
