import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AdmissionLedger, type LedgerUsage } from '../../src/admission-ledger.ts';
import { defaults } from '../../src/config.ts';
import { waitFor } from './wait.ts';

/**
 * A read-mostly view of one queue in Redis, over its own connection: the admission ledger,
 * BullMQ's job states and the events stream. Made through a LeakGuard, which checks it is closed.
 */
export class QueueInspector {
  readonly redis: Redis;
  readonly queue: Queue;
  readonly ledger: AdmissionLedger;
  readonly queueName: string;
  readonly prefix: string = defaults.redisPrefix;

  constructor(redisUrl: string, queueName: string) {
    this.queueName = queueName;
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectionName: 'debug-archiver:test' });
    this.redis.on('error', () => undefined);
    this.queue = new Queue(queueName, { connection: this.redis, prefix: this.prefix });
    this.ledger = new AdmissionLedger(this.redis, this.prefix, queueName);
  }

  get eventsKey(): string {
    return `${this.prefix}:${this.queueName}:events`;
  }

  usage(): Promise<LedgerUsage> {
    return this.ledger.usage();
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts();
  }

  /** True while the payload holds a place in the ledger (admitted, not yet archived). */
  async isAdmitted(payloadId: string): Promise<boolean> {
    return (await this.redis.hexists(`${this.prefix}:${this.queueName}:ledger:admitted`, payloadId)) === 1;
  }

  /**
   * Waits until every payload is released from the ledger (the consumer releases only after S3
   * confirmed the upload). Fails at once if one of their jobs lands in the failed set.
   */
  async waitForArchived(payloadIds: readonly string[], timeoutMs = 30_000): Promise<void> {
    const pending = new Set(payloadIds);
    await waitFor(
      async () => {
        for (const payloadId of [...pending]) {
          if (!(await this.isAdmitted(payloadId))) {
            pending.delete(payloadId);
            continue;
          }
          if ((await this.queue.getJobState(payloadId)) === 'failed') {
            const job = await this.queue.getJob(payloadId);
            throw new Error(`archive job ${payloadId} failed: ${job?.failedReason ?? 'unknown reason'}`);
          }
        }
        return pending.size === 0 ? true : undefined;
      },
      { what: `${pending.size} payload(s) to be archived`, timeoutMs, intervalMs: 50 },
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.redis.quit().catch(() => {
      this.redis.disconnect();
    });
  }
}
