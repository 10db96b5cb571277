import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { s3CredentialsFromEnv } from '../cli/s3-from-env.ts';
import { defaults } from '../config.ts';
import { ConfigError } from '../errors.ts';
import { startLocalS3 } from '../local/s3-server.ts';
import type { S3ClientOptions } from '../storage/s3-client.ts';

export const DEMO_BUCKET = 'debug-archive-demo';

export interface DemoS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** Undefined: the SDK's default chain, as the worker would use it. */
  readonly credentials: S3ClientOptions['credentials'];
  /** The embedded store: its folder and fixed credentials; undefined for an S3 from S3_ENDPOINT. */
  readonly embedded: { directory: string; accessKeyId: string; secretAccessKey: string } | undefined;
  readonly origin: string;
  stop(): Promise<void>;
}

/**
 * The demo's S3: S3_ENDPOINT and DEBUG_ARCHIVE_BUCKET when both are set, else s3rver in this
 * process keeping objects in `.demo/s3` under `cwd`, which stays after the demo for a look.
 */
export async function provideS3(env: NodeJS.ProcessEnv, cwd: string): Promise<DemoS3> {
  const endpoint = env.S3_ENDPOINT?.trim();
  const bucket = env.DEBUG_ARCHIVE_BUCKET?.trim();
  if (endpoint && bucket) {
    return {
      endpoint,
      bucket,
      region: env.AWS_REGION?.trim() || defaults.region,
      credentials: s3CredentialsFromEnv(env),
      embedded: undefined,
      origin: 'from S3_ENDPOINT',
      stop: () => Promise.resolve(),
    };
  }
  // Half a configuration most likely points at a real bucket by mistake: refuse rather than guess.
  if (endpoint || bucket) {
    throw new ConfigError([
      `${endpoint ? 'S3_ENDPOINT' : 'DEBUG_ARCHIVE_BUCKET'} is set but ${endpoint ? 'DEBUG_ARCHIVE_BUCKET' : 'S3_ENDPOINT'} is not: set both to use your S3, or neither for the embedded store`,
    ]);
  }
  const directory = resolve(cwd, '.demo', 's3');
  await mkdir(directory, { recursive: true });
  const local = await startLocalS3({ directory, buckets: [DEMO_BUCKET] });
  return {
    endpoint: local.endpoint,
    bucket: DEMO_BUCKET,
    region: defaults.region,
    credentials: local.credentials,
    embedded: { directory, ...local.credentials },
    origin: 'embedded s3rver in this process, stopped at exit',
    stop: () => local.stop(),
  };
}
