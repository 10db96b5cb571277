import { S3ServiceException } from '@aws-sdk/client-s3';
import { DebugArchiverError } from '../errors.ts';

const CREDENTIAL_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
]);

/**
 * Turns what S3 and the SDK throw into one sentence a person can act on, for the CLI. Errors
 * it does not recognise come back unchanged.
 */
export function explainS3Error(error: unknown, bucket: string): unknown {
  if (!(error instanceof Error) || error instanceof DebugArchiverError) return error;
  const { name } = error;
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  const code = (error as { code?: unknown }).code;
  let message: string | undefined;
  if (name === 'NoSuchBucket') message = `bucket ${bucket} does not exist`;
  else if (CREDENTIAL_ERRORS.has(name))
    message = `S3 refused the credentials (${name}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or the profile`;
  else if (name === 'AccessDenied' || status === 403)
    message = `access to bucket ${bucket} was denied: check the credentials' permissions`;
  else if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'ETIMEDOUT' ||
    name === 'TimeoutError'
  ) {
    message = `cannot reach S3 (${typeof code === 'string' ? code : name}): check S3_ENDPOINT and the network`;
  }
  return message === undefined ? error : new DebugArchiverError('ERR_S3', message, { cause: error });
}
