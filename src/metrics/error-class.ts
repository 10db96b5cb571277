import { UnrecoverableError } from 'bullmq';
import type { ErrorClass } from './definitions.ts';

/** Sorts an archive failure into one of a fixed set of classes, for metric labels. */
export function classifyError(error: unknown): ErrorClass {
  if (error instanceof UnrecoverableError) return 'bad_payload';
  if (!(error instanceof Error)) return 'other';
  const { name } = error;
  const code = (error as { code?: unknown }).code;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (name === 'AbortError' || code === 'ABORT_ERR') return 'aborted';
  if (
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    code === 'ETIMEDOUT' ||
    code === 'ESOCKETTIMEDOUT'
  ) {
    return 'timeout';
  }
  if (status === 503 || status === 429 || name === 'SlowDown') return 's3_throttled';
  if (status !== undefined && status >= 500) return 's3_server_error';
  if (status !== undefined && status >= 400) return 's3_client_error';
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return 'network';
  return 'other';
}
