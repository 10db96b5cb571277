import type { ByteSource } from '../encoding/json-scanner.ts';
import { readSteps, stepEnd } from '../encoding/steps.ts';

interface Waiting {
  end: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A document's bytes as they arrive in steps of `stepBytes` (the stored JSON's GETRANGE steps,
 * moved to a redaction thread one by one), read as a ByteSource while later steps are still on
 * their way: a read waits for the steps it spans. A read within one step is a view of it, and
 * the scanner and the suspect search keep their reads within one (`pieceEnd`), so the bytes are
 * not copied but for values that straddle two steps.
 *
 * Memory: the steps received, up to the whole document.
 */
export class ArrivingBytes implements ByteSource {
  readonly length: number;
  readonly #stepBytes: number;
  readonly #steps: Buffer[] = [];
  #received = 0;
  #waiting: Waiting[] = [];
  #failure: Error | undefined;

  constructor(length: number, stepBytes: number) {
    this.length = length;
    this.#stepBytes = Math.max(1, stepBytes);
  }

  /** The next step: `stepBytes` long, or what is left of the document. */
  add(step: Buffer): void {
    const expected = Math.min(this.#stepBytes, this.length - this.#received);
    if (step.length !== expected) {
      this.fail(new Error(`a step of ${String(step.length)} bytes where ${String(expected)} were due`));
      return;
    }
    this.#steps.push(step);
    this.#received += step.length;
    this.#waiting = this.#waiting.filter((waiting) => {
      if (waiting.end > this.#received) return true;
      waiting.resolve();
      return false;
    });
  }

  /**
   * Frees the steps' memory at once, once nothing reads them any more (the walk is over, and
   * what it made of them was copied out). A redaction thread allocates so little JavaScript
   * that V8 may not collect it for long: with the worker's
   * --external-memory-accounted-in-global-limit, steps moved to a thread were never collected,
   * and a consumer archiving 10 MB payloads one after another grew by about 9 MB each.
   */
  release(): void {
    for (const step of this.#steps.splice(0)) freeMemory(step);
    this.fail(new Error('the steps were released'));
  }

  /** Fails the reads waiting and every later one: the steps will not come. */
  fail(error: Error): void {
    this.#failure ??= error;
    for (const waiting of this.#waiting) waiting.reject(this.#failure);
    this.#waiting = [];
  }

  pieceEnd(position: number): number {
    return stepEnd(position, this.#stepBytes, this.length);
  }

  async read(start: number, end: number): Promise<Buffer> {
    if (this.#failure !== undefined) throw this.#failure;
    if (end > this.#received && end > start) {
      await new Promise<void>((resolve, reject) => {
        this.#waiting.push({ end, resolve, reject });
      });
    }
    return readSteps(start, end, this.#stepBytes, (index) => this.#steps[index] as Buffer);
  }
}

/**
 * Frees the memory of a Buffer that spans all of it, at once (the ArrayBuffer is detached: every
 * view of it reads as empty); one that shares its memory is left to the garbage collector.
 */
export function freeMemory(bytes: Uint8Array): void {
  const memory = bytes.buffer;
  if (
    memory instanceof ArrayBuffer &&
    !memory.detached &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === memory.byteLength
  ) {
    memory.transfer(0);
  }
}
