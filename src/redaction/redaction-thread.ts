import { parentPort, workerData } from 'node:worker_threads';
import { jsonChunks, ONE_STRING_CHARS } from '../encoding/json-chunks.ts';
import { MAX_BLOCK_BYTES } from '../encoding/parallel-gzip.ts';
import { Redactor } from './redactor.ts';
import {
  SharedSlots,
  transferable,
  type FromThread,
  type ThreadData,
  type ToThread,
} from './thread-messages.ts';

/**
 * A redaction thread (src/redaction/redaction-pool.ts): parses the JSON it is handed, redacts
 * it, and posts the summary and the redacted JSON in chunks of about 512 KiB (one gzip
 * block), never more than `chunksAhead` of them before the main thread has taken them.
 */
const port = parentPort;
if (port === null) throw new Error('redaction-thread.ts runs as a worker thread (RedactionPool)');
const { rules, chunksAhead, slab, states, slotBytes } = workerData as ThreadData;
const redactor = new Redactor(rules);
const slots = new SharedSlots(slab, states, slotBytes);
const allocate = (bytes: number): Buffer => slots.take(bytes) ?? Buffer.allocUnsafe(bytes);

interface Task {
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}
const tasks = new Map<number, Task>();

const post = (message: FromThread, transfer: ArrayBuffer[] = []): void => {
  port.postMessage(message, transfer);
};

async function redact(id: number, json: Uint8Array, task: Task): Promise<void> {
  const text = Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    post({ type: 'failed', id, invalidJson: true, message: String(error) });
    return;
  }
  const { summary } = redactor.redactInPlace(value);
  // Posted with the first chunk, and a small payload's end with it: the main thread wakes once.
  let redacted = false;
  for (const chunk of jsonChunks(value, MAX_BLOCK_BYTES, ONE_STRING_CHARS, text.length, allocate)) {
    if (!redacted) {
      post({ type: 'redacted', id, summary });
      redacted = true;
    }
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
      const bytes = transferable(chunk);
      post({ type: 'chunk', id, chunk: bytes }, [bytes.buffer]);
    }
  }
  if (!redacted) post({ type: 'redacted', id, summary });
  post({ type: 'end', id });
}

port.on('message', (message: ToThread) => {
  if (message.type === 'redact') {
    const task: Task = { credit: chunksAhead, cancelled: false, wake: undefined };
    tasks.set(message.id, task);
    redact(message.id, message.json, task)
      .catch((error: unknown) => {
        post({ type: 'failed', id: message.id, invalidJson: false, message: String(error) });
      })
      .finally(() => {
        tasks.delete(message.id);
      });
    return;
  }
  const task = tasks.get(message.id);
  if (task === undefined) return;
  if (message.type === 'take') task.credit += 1;
  else task.cancelled = true;
  task.wake?.();
  task.wake = undefined;
});
