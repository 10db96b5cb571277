import type { ByteSource } from '../encoding/json-scanner.ts';

/**
 * A document a redaction thread reads through the main thread, which reads each range asked
 * for from where the document lives (the stored JSON in Redis) and sends it back: for payloads
 * too large to hold whole, read in steps (stepCache) as the walk needs them.
 *
 * Memory: the ranges asked for and not yet answered.
 */
export class PulledBytes implements ByteSource {
  readonly length: number;
  readonly #ask: (read: number, start: number, end: number) => void;
  readonly #waiting = new Map<number, { resolve: (bytes: Buffer) => void; reject: (error: Error) => void }>();
  #nextRead = 1;
  #failure: Error | undefined;

  /** `ask` sends a request for bytes [start, end), to be answered with `arrive(read, bytes)`. */
  constructor(length: number, ask: (read: number, start: number, end: number) => void) {
    this.length = length;
    this.#ask = ask;
  }

  read(start: number, end: number): Promise<Buffer> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const read = this.#nextRead;
    this.#nextRead += 1;
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiting.set(read, {
        resolve: (bytes) => {
          if (bytes.length === end - start) resolve(bytes);
          else
            reject(
              new Error(`${String(bytes.length)} bytes came where ${String(end - start)} were asked for`),
            );
        },
        reject,
      });
      this.#ask(read, start, end);
    });
  }

  /** The answer to read `read`; one for a read no longer waited for is dropped. */
  arrive(read: number, bytes: Buffer): void {
    const waiting = this.#waiting.get(read);
    this.#waiting.delete(read);
    waiting?.resolve(bytes);
  }

  /** Fails the reads waiting and every later one. */
  fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#waiting.values()) waiting.reject(this.#failure);
    this.#waiting.clear();
  }
}
