/**
 * A budget of bytes held at once, granted first come, first served. A request larger than the
 * whole budget is granted once nothing else is held, so it runs alone instead of never.
 *
 * Memory: one waiter per pending request (at most the consumer's concurrency).
 */
export class ByteBudget {
  readonly #limit: number;
  #held = 0;
  #holders = 0;
  readonly #waiting: { bytes: number; grant: () => void }[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /**
   * Resolves with a release function once `bytes` fit; rejects with the signal's reason if it
   * aborts first. Call the release function exactly once.
   */
  async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#waiting.length === 0 && this.#fits(bytes)) return this.#take(bytes);
    return new Promise<() => void>((resolve, reject) => {
      const waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#take(bytes));
        },
      };
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        this.#grantWaiting();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #fits(bytes: number): boolean {
    return this.#holders === 0 || this.#held + bytes <= this.#limit;
  }

  #take(bytes: number): () => void {
    this.#held += bytes;
    this.#holders += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held -= bytes;
      this.#holders -= 1;
      this.#grantWaiting();
    };
  }

  #grantWaiting(): void {
    for (let next = this.#waiting[0]; next !== undefined && this.#fits(next.bytes); next = this.#waiting[0]) {
      this.#waiting.shift();
      next.grant();
    }
  }
}
