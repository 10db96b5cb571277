import type { Redis } from 'ioredis';
import { AdmissionLedger } from '../admission-ledger.ts';

/**
 * Counts which of the demo's payloads are archived: the consumer releases a payload from the
 * admission ledger (deleting its bytes key) only after S3 confirmed the upload. Checking the
 * demo's own payload ids, rather than the ledger's total, keeps the count right on a Redis
 * that other producers share.
 */
export class ArchiveWatch {
  readonly #redis: Redis;
  readonly #ledger: AdmissionLedger;
  readonly #pending = new Set<string>();
  #tracked = 0;

  constructor(redis: Redis, settings: { redisPrefix: string; queueName: string }) {
    this.#redis = redis;
    this.#ledger = new AdmissionLedger(redis, settings.redisPrefix, settings.queueName);
  }

  /** Starts following a payload the producer queued. */
  track(payloadId: string): void {
    this.#pending.add(payloadId);
    this.#tracked += 1;
  }

  get tracked(): number {
    return this.#tracked;
  }

  /** How many tracked payloads are archived, asking Redis about those not yet seen archived. */
  async archived(): Promise<number> {
    const ids = [...this.#pending];
    if (ids.length > 0) {
      const pipeline = this.#redis.pipeline();
      for (const id of ids) pipeline.exists(this.#ledger.payloadKey(id));
      const replies = (await pipeline.exec()) ?? [];
      replies.forEach(([error, exists], index) => {
        if (error) throw error;
        const id = ids[index];
        if (exists === 0 && id !== undefined) this.#pending.delete(id);
      });
    }
    return this.#tracked - this.#pending.size;
  }

  /** JSON bytes waiting in Redis for the consumer, across every producer of the queue. */
  async waitingBytes(): Promise<number> {
    return (await this.#ledger.usage()).bytes;
  }
}
