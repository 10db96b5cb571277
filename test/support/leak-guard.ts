import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { pino } from 'pino';
import { afterEach } from 'vitest';
import {
  startArchiveConsumer,
  type ArchiveConsumer,
  type ArchiveConsumerOptions,
} from '../../src/consumer/archive-consumer.ts';
import {
  createDebugPayloadProducer,
  type DebugPayloadProducer,
  type ProducerOptions,
} from '../../src/producer/producer.ts';
import { QueueInspector } from './inspect.ts';

/** A logger that keeps test output clean; set TEST_LOG_LEVEL=debug to see the library's logs. */
export function testLogger(): pino.Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }, pino.destination(2));
}

interface Tracked {
  label: string;
  /** Releases the resource when the test leaked it. */
  release: () => Promise<unknown>;
}

/**
 * Tracks the producers, consumers, inspectors and child processes a test makes through it. After
 * each test (`useLeakGuard` registers the hook) it fails if any was not closed (or, for a
 * child, has not exited), after releasing them so one leak does not spill into later tests.
 */
export class LeakGuard {
  readonly #open = new Set<Tracked>();

  #track(label: string, release: () => Promise<unknown>): Tracked {
    const entry = { label, release };
    this.#open.add(entry);
    return entry;
  }

  /**
   * A producer with the CPU share off unless the test sets one: how many enqueues fit in a
   * share depends on the machine's speed, which only the test of the share may depend on.
   */
  producer(options: ProducerOptions): DebugPayloadProducer {
    const producer = createDebugPayloadProducer({ logger: testLogger(), maxCpuShare: 1, ...options });
    const entry = this.#track(`producer of queue ${options.queueName ?? '(default)'}`, () =>
      producer.close(),
    );
    return {
      enqueue: (payload, meta) => producer.enqueue(payload, meta),
      stats: () => producer.stats(),
      close: async () => {
        await producer.close();
        this.#open.delete(entry);
      },
    };
  }

  async consumer(options: ArchiveConsumerOptions): Promise<ArchiveConsumer> {
    const consumer = await startArchiveConsumer({ logger: testLogger(), ...options });
    const entry = this.#track(`consumer of queue ${options.queueName ?? '(default)'}`, () =>
      consumer.close(),
    );
    return {
      settings: consumer.settings,
      registry: consumer.registry,
      metricsPort: consumer.metricsPort,
      usage: () => consumer.usage(),
      close: async () => {
        const result = await consumer.close();
        this.#open.delete(entry);
        return result;
      },
    };
  }

  inspector(redisUrl: string, queueName: string): QueueInspector {
    const inspector = new QueueInspector(redisUrl, queueName);
    const close = inspector.close.bind(inspector);
    const entry = this.#track(`inspector of queue ${queueName}`, close);
    inspector.close = async () => {
      await close();
      this.#open.delete(entry);
    };
    return inspector;
  }

  /** Spawns a child process; the test must see it exit. */
  spawn(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(command, args, options);
    const entry = this.#track(`child process ${[command, ...args].join(' ')}`, async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    });
    child.once('exit', () => {
      this.#open.delete(entry);
    });
    return child;
  }

  /** Fails when something made through the guard is still open; releases it first. */
  async verify(): Promise<void> {
    const leaked = [...this.#open];
    this.#open.clear();
    for (const entry of leaked) await entry.release().catch(() => undefined);
    if (leaked.length > 0) {
      throw new Error(`left open by the test: ${leaked.map((entry) => entry.label).join('; ')}`);
    }
  }
}

/** A LeakGuard checked after every test of the file. */
export function useLeakGuard(): LeakGuard {
  const guard = new LeakGuard();
  afterEach(async () => {
    await guard.verify();
  });
  return guard;
}
