import type { S3ClientOptions } from '../storage/s3-client.ts';

/**
 * Static credentials when AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are both set; otherwise
 * undefined, leaving the SDK's default chain (profiles, SSO, instance and task roles).
 */
export function s3CredentialsFromEnv(env: NodeJS.ProcessEnv): S3ClientOptions['credentials'] {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}
