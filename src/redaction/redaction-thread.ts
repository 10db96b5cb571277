import { parentPort, workerData } from 'node:worker_threads';
import { ArrivingBytes, freeMemory } from './arriving-bytes.ts';
import { bufferSource } from '../encoding/json-scanner.ts';
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
 * step as the steps arrive, as redactStoredJson does, and posts the redacted JSON in chunks of
 * 64 KiB to 512 KiB (one gzip block each), never more than `chunksAhead` of them before the main thread
 * has taken them, then the summary.
 */
const port = parentPort;
if (port === null) throw new Error('redaction-thread.ts runs as a worker thread (RedactionPool)');
const { rules, chunksAhead, slab, states, slotBytes } = workerData as ThreadData;
const redactor = new Redactor(rules);
const slots = new SharedSlots(slab, states, slotBytes);

/**
 * A small document with something to redact, walked once as the thread starts: the SIMD search
 * and scan are compiled, and the patterns made, before the first payload needs them.
 */
const WARM_UP_JSON = Buffer.from(
  JSON.stringify({
    request: { headers: [{ name: 'Authorization', value: 'Bearer x' }], url: '/?token=x' },
    logs: [''],
  }),
);
async function warmUp(): Promise<number> {
  let bytes = 0;
  for await (const chunk of redactStoredJson(bufferSource(WARM_UP_JSON), redactor.pieces()))
    bytes += chunk.length;
  return bytes;
}
// What fails here fails the first payload too, which reports it: this only saves it the wait.
warmUp().catch(() => 0);
const allocate = (bytes: number): Buffer => slots.take(bytes) ?? Buffer.allocUnsafe(bytes);

interface Task {
  bytes: ArrivingBytes;
  credit: number;
  cancelled: boolean;
  wake: (() => void) | undefined;
}
const tasks = new Map<number, Task>();

const post = (message: FromThread, transfer: ArrayBuffer[] = []): void => {
  port.postMessage(message, transfer);
};

async function redact(id: number, task: Task): Promise<void> {
  const pieces = redactor.pieces();
  try {
    for await (const chunk of redactStoredJson(task.bytes, pieces, { allocate })) {
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
    const bytes = new ArrivingBytes(message.length, message.stepBytes);
    const task: Task = { bytes, credit: chunksAhead, cancelled: false, wake: undefined };
    tasks.set(message.id, task);
    redact(message.id, task)
      .catch((error: unknown) => {
        post({ type: 'failed', id: message.id, invalidJson: false, message: String(error) });
      })
      .finally(() => {
        tasks.delete(message.id);
        task.bytes.release();
      });
    return;
  }
  const task = tasks.get(message.id);
  if (task === undefined) {
    // A step on its way when its payload ended: nothing will read it.
    if (message.type === 'step') freeMemory(message.bytes);
    return;
  }
  switch (message.type) {
    case 'step':
      task.bytes.add(Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength));
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
