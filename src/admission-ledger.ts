import type { Redis, Result } from 'ioredis';

/**
 * The admission ledger holds the hard bounds of the queue in Redis, so they hold across every
 * producer process at once: a hash of admitted payload ids (value `bytes|admittedAtMs`), a
 * counter of their JSON bytes, and the payload bytes themselves under one key per payload.
 * Admission checks both bounds and reserves room in one Lua script, so there is no
 * check-then-add race; only then are the bytes sent, so a full queue costs a producer one tiny
 * round trip, not a megabyte upload. The consumer releases an entry only after S3 confirmed
 * the upload.
 *
 * The BullMQ job carries only the payload's identity (a few hundred bytes), which keeps job
 * data, return values and BullMQ's events stream small whatever the payload size.
 */

const reserveScript = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
local queued = tonumber(redis.call('GET', KEYS[2]) or '0')
if queued + tonumber(ARGV[2]) > tonumber(ARGV[5]) then return 2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('INCRBY', KEYS[2], ARGV[2])
return 0
`;

const releaseScript = `
local entry = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
if not entry then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECRBY', KEYS[2], tonumber(string.match(entry, '^(%d+)')))
return 1
`;

// Releases entries whose BullMQ job no longer exists: a producer that died between admission
// and Queue.add, or a failed job an operator removed. Keys are derived from ARGV; they share
// the ledger's hash tag, so the script stays in one Redis Cluster slot.
const reconcileScript = `
local released = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    local bytes, admittedAt = string.match(entry, '^(%d+)|(%d+)$')
    if tonumber(admittedAt) < tonumber(ARGV[3]) and redis.call('EXISTS', ARGV[1] .. id) == 0 then
      redis.call('HDEL', KEYS[1], id)
      redis.call('DECRBY', KEYS[2], tonumber(bytes))
      redis.call('DEL', ARGV[2] .. id)
      released = released + 1
    end
  end
end
return released
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    debugArchiverReserve(
      admitted: string,
      bytesKey: string,
      payloadId: string,
      bytes: number,
      nowMs: number,
      maxQueued: number,
      maxQueuedBytes: number,
    ): Result<number, Context>;
    debugArchiverRelease(
      admitted: string,
      bytesKey: string,
      payloadKey: string,
      payloadId: string,
    ): Result<number, Context>;
    debugArchiverReconcile(
      admitted: string,
      bytesKey: string,
      jobKeyPrefix: string,
      payloadKeyPrefix: string,
      cutoffMs: number,
      ...payloadIds: string[]
    ): Result<number, Context>;
  }
}

/** Why admission refused a payload. */
export type AdmissionRefusal = 'queue_full' | 'bytes_full';

export interface LedgerUsage {
  /** Payloads admitted and not yet archived. */
  payloads: number;
  /** Their JSON bytes. */
  bytes: number;
}

/** The Redis keys of one queue's ledger. `base` is BullMQ's own `{prefix}:{queueName}`. */
export class AdmissionLedger {
  readonly #redis: Redis;
  readonly #base: string;
  readonly #admitted: string;
  readonly #bytes: string;

  constructor(redis: Redis, redisPrefix: string, queueName: string) {
    this.#redis = redis;
    this.#base = `${redisPrefix}:${queueName}`;
    this.#admitted = `${this.#base}:ledger:admitted`;
    this.#bytes = `${this.#base}:ledger:bytes`;
    // defineCommand is idempotent per client and caches the script by SHA (EVALSHA, EVAL on NOSCRIPT).
    redis.defineCommand('debugArchiverReserve', { numberOfKeys: 2, lua: reserveScript });
    redis.defineCommand('debugArchiverRelease', { numberOfKeys: 3, lua: releaseScript });
    redis.defineCommand('debugArchiverReconcile', { numberOfKeys: 2, lua: reconcileScript });
  }

  /** Key holding the payload's JSON until it is archived. */
  payloadKey(payloadId: string): string {
    return `${this.#base}:payload:${payloadId}`;
  }

  /** Reserves room for `bytes` atomically under both bounds, or says which bound refused it. */
  async reserve(
    payloadId: string,
    bytes: number,
    bounds: { maxQueued: number; maxQueuedBytes: number },
  ): Promise<AdmissionRefusal | undefined> {
    const code = await this.#redis.debugArchiverReserve(
      this.#admitted,
      this.#bytes,
      payloadId,
      bytes,
      Date.now(),
      bounds.maxQueued,
      bounds.maxQueuedBytes,
    );
    if (code === 1) return 'queue_full';
    if (code === 2) return 'bytes_full';
    return undefined;
  }

  /** Stores the JSON of a payload that holds a reservation. */
  async storePayload(payloadId: string, json: string): Promise<void> {
    await this.#redis.set(this.payloadKey(payloadId), json);
  }

  /** Drops the payload's entry and bytes; idempotent. True when this call released it. */
  async release(payloadId: string): Promise<boolean> {
    const released = await this.#redis.debugArchiverRelease(
      this.#admitted,
      this.#bytes,
      this.payloadKey(payloadId),
      payloadId,
    );
    return released === 1;
  }

  /** The payload's JSON, or null when it was released already. */
  async readPayload(payloadId: string): Promise<string | null> {
    return this.#redis.get(this.payloadKey(payloadId));
  }

  async usage(): Promise<LedgerUsage> {
    const [payloads, bytes] = await Promise.all([
      this.#redis.hlen(this.#admitted),
      this.#redis.get(this.#bytes),
    ]);
    return { payloads, bytes: Number(bytes ?? 0) };
  }

  /**
   * Releases entries older than `graceMs` whose BullMQ job is gone. Walks the ledger in
   * batches, so its cost is bounded by maxQueued. Returns how many it released.
   */
  async reconcile(graceMs: number, batchSize = 500): Promise<number> {
    const cutoff = Date.now() - graceMs;
    let cursor = '0';
    let released = 0;
    do {
      const [next, flat] = await this.#redis.hscan(this.#admitted, cursor, 'COUNT', batchSize);
      cursor = next;
      const ids = flat.filter((_, index) => index % 2 === 0);
      if (ids.length > 0) {
        released += await this.#redis.debugArchiverReconcile(
          this.#admitted,
          this.#bytes,
          `${this.#base}:`,
          `${this.#base}:payload:`,
          cutoff,
          ...ids,
        );
      }
    } while (cursor !== '0');
    return released;
  }
}
