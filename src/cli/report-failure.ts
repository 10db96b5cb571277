import { DebugArchiverError } from '../errors.ts';

/** Prints an error as one line a person can act on (the stack only when asked); returns the exit code. */
export function reportFailure(error: unknown, verbose: boolean): number {
  const message = error instanceof Error ? error.message : String(error);
  const prefix = error instanceof DebugArchiverError ? '' : 'error: ';
  process.stderr.write(`debug-archiver: ${prefix}${message}\n`);
  if (verbose && error instanceof Error && error.stack !== undefined)
    process.stderr.write(`${error.stack}\n`);
  return 1;
}
