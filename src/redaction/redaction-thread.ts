import { parentPort, workerData } from 'node:worker_threads';
import type { ByteSource } from '../encoding/json-scanner.ts';
import { stepCache } from '../encoding/step-cache.ts';
import { ArrivingBytes } from './arriving-bytes.ts';
import { PulledBytes } from './pulled-bytes.ts';
import { isMalformedJson, redactStoredJson } from './redact-stored-json.ts';
import { Redactor } from './redactor.ts';
import {
  SharedSlots,
  transferable,
  type FromThread,
  type ThreadData,
  type ToThread,
} from './thread-messages.ts';

/**
 * A redaction thread (src/redaction/redaction-pool.ts): redacts the JSON it is handed, step by
 * step as the steps arrive (or as it asks for them), as redactStoredJson does, and posts the
 * redacted JSON in chunks of 64 KiB to 512 KiB (one gzip block each), never more than
 * `chunksAhead` of them before the main thread has taken them, then the summary.
 */
const port = parentPort;
if (port === null) throw new Error('redaction-thread.ts runs as a worker thread (RedactionPool)');
const { rules, chunksAhead, slab, states, slotBytes } = workerData as ThreadData;
const redactor = new Redactor(rules);
const slots = new SharedSlots(slab, states, slotBytes);
const allocate = (bytes: number): Buffer => slots.take(bytes) ?? Buffer.allocUnsafe(bytes);

/**
 * Steps of a pulled payload kept, and asked for ahead of the walk: as the event loop keeps them
 * (src/consumer/archive-processor.ts), with the next two on their way through the main thread.
 */
const PULLED_STEPS_KEPT = 3;
const PULLED_STEPS_AHEAD = 2;

interface Task {
  bytes: ArrivingBytes | PulledBytes;
  source: ByteSource;
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}
const tasks = new Map<number, Task>();

const received = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

const post = (message: FromThread, transfer: ArrayBuffer[] = []): void => {
  port.postMessage(message, transfer);
};

async function redact(id: number, task: Task): Promise<void> {
  const pieces = redactor.pieces();
  try {
    for await (const chunk of redactStoredJson(task.source, pieces, { allocate })) {
      const slot = slots.slotOf(chunk);
      while (task.credit === 0 && !task.cancelled) {
        await new Promise<void>((resolve) => {
          task.wake = resolve;
        });
      }
      if (task.cancelled) {
        slots.release(slot);
        return;
      }
      task.credit -= 1;
      if (slot >= 0) {
        post({ type: 'slotted', id, slot, length: chunk.length });
      } else {
        const moved = transferable(chunk);
        post({ type: 'chunk', id, chunk: moved }, [moved.buffer]);
      }
    }
  } catch (error) {
    if (!isMalformedJson(error)) throw error;
    post({ type: 'failed', id, invalidJson: true, message: String(error) });
    return;
  }
  post({ type: 'end', id, summary: pieces.summary() });
}

port.on('message', (message: ToThread) => {
  if (message.type === 'redact') {
    const { id, length, stepBytes } = message;
    const bytes = message.pulled
      ? new PulledBytes(length, (read, start, end) => {
          post({ type: 'read', id, read, start, end });
        })
      : new ArrivingBytes(length, stepBytes);
    const source =
      bytes instanceof PulledBytes
        ? stepCache(bytes, stepBytes, PULLED_STEPS_KEPT, PULLED_STEPS_AHEAD)
        : bytes;
    const task: Task = { bytes, source, credit: chunksAhead, cancelled: false, wake: undefined };
    tasks.set(id, task);
    redact(id, task)
      .catch((error: unknown) => {
        post({ type: 'failed', id, invalidJson: false, message: String(error) });
      })
      .finally(() => {
        tasks.delete(id);
      });
    return;
  }
  const task = tasks.get(message.id);
  if (task === undefined) return;
  switch (message.type) {
    case 'step':
      if (task.bytes instanceof ArrivingBytes) task.bytes.add(received(message.bytes));
      return;
    case 'bytes':
      if (task.bytes instanceof PulledBytes) task.bytes.arrive(message.read, received(message.bytes));
      return;
    case 'take':
      task.credit += 1;
      break;
    case 'cancel':
      task.cancelled = true;
      // A walk waiting for steps that will not come ends.
      task.bytes.fail(new Error('redaction cancelled'));
  }
  task.wake?.();
  task.wake = undefined;
});
