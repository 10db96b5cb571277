/**
 * Turns the first Ctrl-C (SIGINT) or SIGTERM into an abort, so the demo stops its work and
 * still cleans up; a second one exits at once for a user who does not want to wait. Returns
 * the function that removes the handlers.
 */
export function abortOnInterrupt(
  controller: AbortController,
  onFirst: (signal: NodeJS.Signals) => void,
): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    onFirst(signal);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
