import { addAbortListener } from 'node:events';

/**
 * `work`'s result, or a rejection with the signal's reason as soon as it aborts, whichever comes
 * first, for work that cannot be handed the signal itself or must not wait for it to be
 * noticed. Work left behind by an abort settles on its own later, unreported.
 */
export async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  work.catch(() => undefined);
  let stopAborting: Disposable | undefined;
  try {
    const aborted = new Promise<never>((_, reject) => {
      stopAborting = addAbortListener(signal, () => {
        reject(signal.reason as Error);
      });
    });
    return await Promise.race([work, aborted]);
  } finally {
    stopAborting?.[Symbol.dispose]();
  }
}
