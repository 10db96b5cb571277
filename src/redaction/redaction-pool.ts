import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Logger } from '../logger.ts';
import type { RedactionSummary } from './redactor.ts';
import type { NameRules } from './sensitive-names.ts';
import {
  SharedSlots,
  transferable,
  type FromThread,
  type ThreadData,
  type ToThread,
} from './thread-messages.ts';

/**
 * Chunks (at most about 512 KiB each) a thread may have posted for one payload before the consumer
 * takes them: enough that gzip never waits for the next, few enough to bound the memory.
 */
const CHUNKS_AHEAD = 2;
/**
 * Shared slots per thread (SharedSlots): the chunks ahead of two payloads at once. A chunk is
 * at most about 512 KiB, a small payload's whole JSON up to 1 MiB; a larger one, or one with no slot
 * free, goes in a buffer of its own.
 */
const SLOTS = 4;
const SLOT_BYTES = 1024 * 1024;

/** Run from source (.ts, as the tests and benchmarks do) or built (.js). */
const THREAD_URL = new URL(
  import.meta.url.endsWith('.ts') ? './redaction-thread.ts' : './redaction-thread.js',
  import.meta.url,
);

/** The stored bytes are not JSON: no retry will change that. */
export class InvalidJsonError extends Error {
  override readonly name = 'InvalidJsonError';
}

export interface RedactedJson {
  /**
   * The redacted JSON in chunks, as redactStoredJson gives it. Read it once; a thread that
   * stops or fails midway makes it throw (InvalidJsonError when the bytes are not JSON).
   */
  chunks: AsyncIterable<Buffer>;
  /** What was redacted; throws until the chunks have been read to their end. */
  summary: () => RedactionSummary;
  /** Lets the thread drop the payload when the chunks are not read to their end. Idempotent. */
  cancel: () => void;
}

export interface RedactionPoolOptions {
  /** Threads at most; each starts on first need (or all at once by `start`). */
  threads: number;
  rules?: NameRules;
  /** Heap limits of each thread; one that runs out stops, failing only the payloads it held. */
  resourceLimits?: ResourceLimits;
  logger?: Logger;
  /** Told of each thread that stops on its own (not by close), after its payloads have failed. */
  onThreadStopped?: (error: Error | undefined) => void;
}

interface Task {
  chunks: Buffer[];
  /** Set at the end. */
  summary: RedactionSummary | undefined;
  error: Error | undefined;
  wake: (() => void) | undefined;
}

interface Thread {
  worker: Worker;
  tasks: Map<number, Task>;
  post(message: ToThread, transfer?: ArrayBuffer[]): void;
}

/** A thread holding payloads keeps the process alive until they are done; an idle one does not. */
function hold(thread: Thread, id: number, task: Task): void {
  if (thread.tasks.size === 0) thread.worker.ref();
  thread.tasks.set(id, task);
}

function letGo(thread: Thread, id: number): boolean {
  const held = thread.tasks.delete(id);
  if (held && thread.tasks.size === 0) thread.worker.unref();
  return held;
}

/** Resumes the reader of a task's chunks, if it waits. */
function wake(task: Task): void {
  task.wake?.();
  task.wake = undefined;
}

function settle(task: Task, outcome: RedactionSummary | Error): void {
  if (outcome instanceof Error) task.error ??= outcome;
  else task.summary = outcome;
  wake(task);
}

/**
 * Redacts payloads (redactStoredJson) on worker threads, so the consumer's event loop
 * (uploads, job locks, metrics) stays free and payloads archived at once use as many cores as
 * there are threads.
 *
 * A payload's bytes move to the thread without a copy, and the thread frees them itself once
 * the payload is redacted (V8 would not collect them there). Memory per payload in a thread: its
 * JSON (which the consumer's `maxRedactingBytes` bounds across payloads), the value redacted
 * at the time (up to 4 KiB of JSON parsed, or a single larger string or header list with a
 * suspect in it), and at most CHUNKS_AHEAD chunks of at most 512 KiB waiting for the consumer; per
 * thread, about 16 MB for the runtime, 4 MiB of slots its chunks pass through, and the SIMD
 * scan's and search's memory (a scanner window of 1 MiB, a search window of 64 KiB and at
 * most 512 KiB of its matches).
 *
 * A thread that dies (out of memory under `resourceLimits`, say) fails the payloads it held
 * with an error, and a new one starts for the next payload.
 */
export class RedactionPool {
  readonly #options: RedactionPoolOptions;
  readonly #threads: Thread[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: RedactionPoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 1) {
      throw new RangeError(`a redaction pool needs at least one thread, not ${String(options.threads)}`);
    }
    this.#options = options;
  }

  /** Threads running now. */
  get size(): number {
    return this.#threads.length;
  }

  /**
   * Starts `count` threads now (at most the pool's), rather than on first need: a caller that
   * never redacts more than `count` payloads at once never needs more. A thread loads its
   * modules and compiles its WebAssembly as it starts (it walks a small document to do so),
   * which a consumer's first payloads would otherwise wait for: two payloads of 10 MB took
   * 347 ms (653 ms of CPU) on threads started for them, 76 ms (137 ms) on threads started a
   * second before, 59-83 ms after.
   */
  start(count: number = this.#options.threads): void {
    if (this.#closed) throw new Error('the redaction pool is closed');
    while (this.#threads.length < Math.min(count, this.#options.threads)) this.#start();
  }

  /**
   * Redacts `json` (UTF-8 JSON text) on a thread. `json` is given up: its memory moves to the
   * thread and the Buffer is left empty.
   */
  redact(json: Buffer): RedactedJson {
    return this.redactSteps(json.length, json.length, [json]);
  }

  /**
   * Redacts a document of `length` bytes that comes in `steps`, each `stepBytes` long but the
   * last (the stored JSON read from Redis in steps): each step moves to the thread, without a
   * copy, as soon as it comes, and the thread redacts what it has while the rest is read. The
   * steps are given up as `redact`'s `json` is. A step that fails to come fails the chunks
   * with its error.
   */
  redactSteps(
    length: number,
    stepBytes: number,
    steps: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): RedactedJson {
    if (this.#closed) throw new Error('the redaction pool is closed');
    const thread = this.#pick();
    const id = this.#nextId;
    this.#nextId += 1;
    const task: Task = { chunks: [], summary: undefined, error: undefined, wake: undefined };
    hold(thread, id, task);
    thread.post({ type: 'redact', id, length, stepBytes });
    const cancel = (reason: Error = new Error('redaction cancelled')): void => {
      if (!letGo(thread, id)) return;
      thread.post({ type: 'cancel', id });
      settle(task, reason);
    };
    const feed = async (): Promise<void> => {
      for await (const step of steps) {
        // Given up, failed or over: the rest stays here, to be collected.
        if (!thread.tasks.has(id)) return;
        const bytes = transferable(step);
        thread.post({ type: 'step', id, bytes }, [bytes.buffer]);
      }
    };
    feed().catch((error: unknown) => {
      cancel(error instanceof Error ? error : new Error(String(error)));
    });
    const summary = (): RedactionSummary => {
      if (task.summary === undefined) throw new Error('the redaction summary is known at the end');
      return task.summary;
    };
    return { chunks: chunksOf(thread, id, task, cancel), summary, cancel };
  }

  /**
   * What the running threads hold, as V8 counts it in each: their heaps, and the memory outside
   * them (payload bytes moved there, the slots, the SIMD memories). A thread frees what it was
   * given once the payload is redacted, so `externalBytes` follows the payloads being redacted
   * now; one that climbs with every payload is memory a thread keeps.
   */
  async memory(): Promise<{ threads: number; heapBytes: number; externalBytes: number }> {
    const each = await Promise.all(
      this.#threads.map(async (thread) => {
        // Node 22 before 22.16 cannot ask a thread: nothing is reported then.
        if (typeof thread.worker.getHeapStatistics !== 'function') return { heap: 0, external: 0 };
        return thread.worker.getHeapStatistics().then(
          (stats) => ({ heap: stats.used_heap_size, external: stats.external_memory }),
          // Stopped meanwhile: it holds nothing any more.
          () => ({ heap: 0, external: 0 }),
        );
      }),
    );
    return {
      threads: each.length,
      heapBytes: each.reduce((sum, one) => sum + one.heap, 0),
      externalBytes: each.reduce((sum, one) => sum + one.external, 0),
    };
  }

  /** Stops every thread; payloads still being redacted fail. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
  }

  /** An idle thread, else a new one while under the limit, else the least busy. */
  #pick(): Thread {
    const idle = this.#threads.find((thread) => thread.tasks.size === 0);
    if (idle !== undefined) return idle;
    if (this.#threads.length < this.#options.threads) return this.#start();
    return this.#threads.reduce((least, thread) => (thread.tasks.size < least.tasks.size ? thread : least));
  }

  #start(): Thread {
    const slots = SharedSlots.create(SLOTS, SLOT_BYTES);
    const data: ThreadData = {
      rules: this.#options.rules ?? {},
      chunksAhead: CHUNKS_AHEAD,
      slab: slots.slab,
      states: slots.states.buffer as SharedArrayBuffer,
      slotBytes: slots.slotBytes,
    };
    const worker = new Worker(THREAD_URL, {
      workerData: data,
      ...(this.#options.resourceLimits === undefined ? {} : { resourceLimits: this.#options.resourceLimits }),
    });
    const thread: Thread = {
      worker,
      tasks: new Map(),
      post: (message, transfer = []) => {
        worker.postMessage(message, transfer);
      },
    };
    let failure: Error | undefined;
    worker.on('message', (message: FromThread) => {
      // A slot is copied out whatever became of its payload: the thread reuses it.
      const chunk =
        message.type === 'slotted'
          ? slots.copyOut(message.slot, message.length)
          : message.type === 'chunk'
            ? Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength)
            : undefined;
      const task = thread.tasks.get(message.id);
      if (task === undefined) return;
      if (chunk !== undefined) {
        task.chunks.push(chunk);
        wake(task);
        return;
      }
      switch (message.type) {
        case 'end':
          letGo(thread, message.id);
          settle(task, message.summary);
          return;
        case 'failed':
          letGo(thread, message.id);
          settle(
            task,
            message.invalidJson
              ? new InvalidJsonError(message.message)
              : new Error(`redaction failed: ${message.message}`),
          );
      }
    });
    worker.on('error', (error: Error) => {
      failure = error;
    });
    worker.on('exit', (code: number) => {
      this.#threads.splice(this.#threads.indexOf(thread), 1);
      const why = this.#closed
        ? 'the redaction pool is closed'
        : `a redaction thread stopped (exit code ${String(code)}${failure === undefined ? '' : `: ${failure.message}`})`;
      if (!this.#closed)
        this.#options.logger?.warn({ code, err: failure?.message }, 'redaction thread stopped');
      for (const task of thread.tasks.values()) settle(task, new Error(why, { cause: failure }));
      thread.tasks.clear();
      if (!this.#closed) this.#options.onThreadStopped?.(failure);
    });
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.#threads.push(thread);
    return thread;
  }
}

/** The chunks a thread posts for one payload; each one taken lets the thread post another. */
async function* chunksOf(
  thread: Thread,
  id: number,
  task: Task,
  cancel: () => void,
): AsyncGenerator<Buffer, void, undefined> {
  try {
    for (;;) {
      const chunk = task.chunks.shift();
      if (chunk !== undefined) {
        if (task.summary === undefined) thread.post({ type: 'take', id });
        yield chunk;
        continue;
      }
      if (task.error !== undefined) throw task.error;
      if (task.summary !== undefined) return;
      await new Promise<void>((resolve) => {
        task.wake = resolve;
      });
    }
  } finally {
    cancel();
  }
}
