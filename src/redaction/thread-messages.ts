import type { RedactionSummary } from './redactor.ts';
import type { NameRules } from './sensitive-names.ts';

/** What a redaction thread is started with. */
export interface ThreadData {
  rules: NameRules;
  /** Chunks a thread may post for one payload before the main thread has taken them. */
  chunksAhead: number;
  /** Slots the thread writes chunks into, shared with the main thread (see SharedSlots). */
  slab: SharedArrayBuffer;
  /** One Int32 per slot: 1 while it holds a chunk the main thread has not copied yet. */
  states: SharedArrayBuffer;
  slotBytes: number;
}

/**
 * Chunks go from a redaction thread to the main thread through slots of shared memory that
 * are written and copied again and again. A buffer made in the thread for every chunk and
 * moved to the main thread came back to the thread's malloc arena when freed, which gave its
 * pages back to the kernel: each chunk then paid its page faults anew (a 100 KB chunk took
 * 0.27 ms to make in a thread against 0.02 ms on the main thread).
 */
export class SharedSlots {
  readonly slab: SharedArrayBuffer;
  readonly states: Int32Array;
  readonly slotBytes: number;

  constructor(slab: SharedArrayBuffer, states: SharedArrayBuffer, slotBytes: number) {
    this.slab = slab;
    this.states = new Int32Array(states);
    this.slotBytes = slotBytes;
  }

  static create(slots: number, slotBytes: number): SharedSlots {
    return new SharedSlots(
      new SharedArrayBuffer(slots * slotBytes),
      new SharedArrayBuffer(slots * Int32Array.BYTES_PER_ELEMENT),
      slotBytes,
    );
  }

  /** In the thread: a free slot's memory for `bytes`, or undefined when none is free or it is too large. */
  take(bytes: number): Buffer | undefined {
    if (bytes > this.slotBytes) return undefined;
    for (let slot = 0; slot < this.states.length; slot += 1) {
      if (Atomics.compareExchange(this.states, slot, 0, 1) === 0) {
        return Buffer.from(this.slab, slot * this.slotBytes, bytes);
      }
    }
    return undefined;
  }

  /** The slot a chunk was written into, or -1 for a buffer of its own. */
  slotOf(chunk: Buffer): number {
    return chunk.buffer === this.slab ? chunk.byteOffset / this.slotBytes : -1;
  }

  /** On the main thread: a copy of the chunk in `slot`, and the slot free again. */
  copyOut(slot: number, length: number): Buffer {
    const start = slot * this.slotBytes;
    const copy = Buffer.allocUnsafe(length);
    copy.set(new Uint8Array(this.slab, start, length));
    this.release(slot);
    return copy;
  }

  /** Frees a slot whose chunk will not be copied (-1, a buffer of its own, is ignored). */
  release(slot: number): void {
    if (slot >= 0) Atomics.store(this.states, slot, 0);
  }
}

/**
 * Main thread to redaction thread: a payload to redact (its length, then its bytes in steps of
 * `stepBytes` as they are read), one chunk taken, or give up on one.
 */
export type ToThread =
  | { type: 'redact'; id: number; length: number; stepBytes: number }
  | { type: 'step'; id: number; bytes: Uint8Array }
  | { type: 'take'; id: number }
  | { type: 'cancel'; id: number };

/** Redaction thread to main thread: chunks, then the end with the summary, or why it failed. */
export type FromThread =
  | { type: 'chunk'; id: number; chunk: Uint8Array }
  | { type: 'slotted'; id: number; slot: number; length: number }
  | { type: 'end'; id: number; summary: RedactionSummary }
  | { type: 'failed'; id: number; invalidJson: boolean; message: string };

/**
 * Bytes ready to transfer to another thread: the buffer's own memory when it spans all of it
 * (moved, not copied), else a copy. A small Buffer lives in Node's shared pool, which must
 * never be transferred: that would detach every other Buffer in it.
 */
export function transferable(bytes: Buffer): Uint8Array<ArrayBuffer> {
  const whole =
    bytes.buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength;
  return whole ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
}
