import { AsyncLocalStorage } from 'node:async_hooks';

const jobSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `work` so that every S3 request it sends through a client made by createS3Client is
 * aborted with `signal`, including the ones no signal can be handed to (lib-storage's
 * PutObject), and without per-request options, which would bypass the client's cached
 * middleware. An aborted request is not retried, so nothing is left holding a socket. Requests
 * begun after the abort (clean-up: lib-storage's AbortMultipartUpload) go out unaborted.
 */
export function abortingS3Requests<T>(signal: AbortSignal, work: () => T): T {
  return jobSignal.run(signal, work);
}

/** The signal of the abortingS3Requests call this runs within, if any. */
export function currentS3RequestSignal(): AbortSignal | undefined {
  return jobSignal.getStore();
}
