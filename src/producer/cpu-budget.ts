/**
 * The share of a process's main-thread time that enqueues may spend on payloads (serialising
 * them and handing their bytes to the socket), kept as a bucket of milliseconds: it fills at
 * `share` ms per ms of wall time, up to one second's worth, and every enqueue pays what its
 * synchronous steps took. An enqueue starts only while the balance is positive; a failed task's
 * payload, the one worth most, also while the debt is under one second's worth. So over any
 * stretch of time archiving takes about `share` of the event loop, and a burst at most about a
 * second's worth more: the tasks keep the rest, however many of them end at once.
 *
 * Time is the main thread's wall time around synchronous work, which on an event loop is the
 * time the tasks waited for it. A share of 1 turns the limit off; time is then measured only
 * for `onSpend` (a metric), and not at all without it.
 */
export class CpuBudget {
  /**
   * The credit a process can save up. With 3 s, a benchmark run of 30 tasks ending in 1 MB
   * payloads kept all of them (88% with 1 s), but 300 tasks let a burst through at the start:
   * task p99 1.34x no archiving's, against 1.05x with 1 s (bench/task-worker.ts).
   */
  static readonly WINDOW_MS = 1_000;
  readonly #share: number;
  readonly #capacityMs: number;
  readonly #now: () => number;
  readonly #onSpend: ((ms: number) => void) | undefined;
  #balanceMs: number;
  #at: number;

  constructor(
    share: number,
    options: { now?: () => number; onSpend?: ((ms: number) => void) | undefined } = {},
  ) {
    const { now = () => performance.now(), onSpend } = options;
    this.#share = share;
    this.#capacityMs = share * CpuBudget.WINDOW_MS;
    this.#now = now;
    this.#onSpend = onSpend;
    this.#balanceMs = this.#capacityMs;
    this.#at = now();
  }

  get limited(): boolean {
    return this.#share < 1;
  }

  /** Whether spending is measured at all: for the limit, or for `onSpend`. */
  get measuring(): boolean {
    return this.limited || this.#onSpend !== undefined;
  }

  /** Whether an enqueue may start now; `priority` for a failed task's payload. */
  allows(priority: boolean): boolean {
    if (!this.limited) return true;
    const now = this.#now();
    this.#balanceMs = Math.min(this.#capacityMs, this.#balanceMs + (now - this.#at) * this.#share);
    this.#at = now;
    return this.#balanceMs > (priority ? -this.#capacityMs : 0);
  }

  /** The budget's clock, in ms: for work done in slices between awaits, each paid with `spend`. */
  now(): number {
    return this.#now();
  }

  /** Pays for `ms` of main-thread time. */
  spend(ms: number): void {
    this.#balanceMs -= ms;
    this.#onSpend?.(ms);
  }

  /** Runs `work` and pays for the time it took (its synchronous part, for a promise). */
  time<T>(work: () => T): T {
    if (!this.measuring) return work();
    const started = this.#now();
    try {
      return work();
    } finally {
      this.spend(this.#now() - started);
    }
  }
}
