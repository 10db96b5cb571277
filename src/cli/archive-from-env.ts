import type { S3Client } from '@aws-sdk/client-s3';
import { consumerSettingsFromEnv } from '../config.ts';
import { explainS3Error } from '../storage/s3-errors.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { s3CredentialsFromEnv } from './s3-from-env.ts';

export interface ArchiveAccess {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
}

/**
 * Runs a read-only command against the bucket named by the environment (or --bucket): makes
 * the S3 client, turns S3's errors into sentences a person can act on, and releases the client.
 */
export async function withArchive<T>(
  env: NodeJS.ProcessEnv,
  bucket: string | undefined,
  command: (archive: ArchiveAccess) => Promise<T>,
): Promise<T> {
  const settings = consumerSettingsFromEnv(
    bucket === undefined ? env : { ...env, DEBUG_ARCHIVE_BUCKET: bucket },
  );
  const s3 = createS3Client({
    region: settings.region,
    endpoint: settings.s3Endpoint,
    maxSockets: 16,
    credentials: s3CredentialsFromEnv(env),
  });
  try {
    return await command({ s3, bucket: settings.bucket, keyPrefix: settings.keyPrefix });
  } catch (error) {
    throw explainS3Error(error, settings.bucket);
  } finally {
    s3.destroy();
  }
}
