/**
 * One shared timer for everything that waits: `next()` resolves at the next tick. The interval
 * runs only while someone waits, so an idle producer holds no timer, and a thousand waiting
 * enqueues share one instead of a thousand.
 */
export class Ticker {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #waiting: (() => void)[] = [];

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  next(): Promise<void> {
    const tick = new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        const due = this.#waiting;
        this.#waiting = [];
        for (const resolve of due) resolve();
        if (this.#waiting.length === 0) this.stop();
      }, this.#intervalMs);
      this.#timer.unref();
    }
    return tick;
  }

  /** Stops the timer; anyone still waiting is released at once. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const due = this.#waiting;
    this.#waiting = [];
    for (const resolve of due) resolve();
  }
}
