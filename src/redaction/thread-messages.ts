import type { RedactionSummary } from './redactor.ts';
import type { NameRules } from './sensitive-names.ts';

/** What a redaction thread is started with. */
export interface ThreadData {
  rules: NameRules;
  /** Chunks a thread may post for one payload before the main thread has taken them. */
  chunksAhead: number;
}

/** Main thread to redaction thread: a payload to redact, one chunk taken, or give up on one. */
export type ToThread =
  | { type: 'redact'; id: number; json: Uint8Array }
  | { type: 'take'; id: number }
  | { type: 'cancel'; id: number };

/** Redaction thread to main thread: the summary once redacted, then chunks and the end, or why it failed. */
export type FromThread =
  | { type: 'redacted'; id: number; summary: RedactionSummary }
  | { type: 'chunk'; id: number; chunk: Uint8Array }
  | { type: 'end'; id: number }
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
