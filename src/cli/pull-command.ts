import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { consumerSettingsFromEnv } from '../config.ts';
import { openDebugPayloadStream } from '../pull.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { s3CredentialsFromEnv } from './s3-from-env.ts';

/** `debug-archiver pull <key>`: streams the decoded, verified JSON to a file or stdout. */
export async function runPull(
  key: string,
  options: { output?: string; bucket?: string },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const settings = consumerSettingsFromEnv(
    options.bucket === undefined ? env : { ...env, DEBUG_ARCHIVE_BUCKET: options.bucket },
  );
  const s3 = createS3Client({
    region: settings.region,
    endpoint: settings.s3Endpoint,
    maxSockets: 4,
    credentials: s3CredentialsFromEnv(env),
  });
  try {
    const { stream } = await openDebugPayloadStream({ s3, bucket: settings.bucket, key });
    if (options.output === undefined) {
      await pipeline(stream, process.stdout, { end: false });
      return 0;
    }
    try {
      await pipeline(stream, createWriteStream(options.output));
    } catch (error) {
      await rm(options.output, { force: true });
      throw error;
    }
    process.stderr.write(`wrote ${options.output}\n`);
    return 0;
  } finally {
    s3.destroy();
  }
}
