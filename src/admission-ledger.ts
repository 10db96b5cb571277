import type { Result } from 'ioredis';
import type { RedisClient } from './redis-client.ts';

/**
 * The admission ledger holds the hard bounds of the queue in Redis, so they hold across every
 * producer process at once: a hash of admitted payload ids (value `bytes|admittedAtMs`), a
 * counter of their JSON bytes, one sorted set per task outcome (admission order), a set of
 * evicted ids, and the payload bytes themselves under one key per payload.
 *
 * Admission checks both bounds, picks any payloads to evict and reserves room in one Lua
 * script, so there is no check-then-add race; only then are the bytes sent, so a full queue
 * costs a producer one small round trip, not a megabyte upload. The consumer releases an entry
 * only after S3 confirmed the upload.
 *
 * The BullMQ job carries only the payload's identity (a few hundred bytes), which keeps job
 * data, return values and BullMQ's events stream small whatever the payload size.
 */

/** What the producer does when admitting a payload would pass a bound. */
export type AdmissionPolicy = 'drop-newest' | 'drop-oldest' | 'wait';
export type PayloadOutcome = 'failed' | 'succeeded' | 'unknown';

// KEYS: admitted, bytes, succeeded, unknown, failed, evicted. ARGV[1] is the payload key prefix.
const forget = `
local function forget(id)
  local entry = redis.call('HGET', KEYS[1], id)
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[5], id)
  if not entry then return 0 end
  redis.call('HDEL', KEYS[1], id)
  redis.call('DECRBY', KEYS[2], tonumber(string.match(entry, '^(%d+)')))
  return 1
end
`;

// ARGV: payload key prefix, id, bytes, now, maxQueued, maxQueuedBytes, outcome, evictable
// outcomes (comma-separated, least valuable first). Evicts at most 16 payloads per outcome.
const reserveScript = `${forget}
local id, bytes, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local maxQueued, maxBytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local count = redis.call('HLEN', KEYS[1])
local queued = tonumber(redis.call('GET', KEYS[2]) or '0')
local function over(c, q) return c + 1 > maxQueued or q + bytes > maxBytes end
local byOutcome = { succeeded = KEYS[3], unknown = KEYS[4], failed = KEYS[5] }
local victims = {}
if over(count, queued) then
  local c, q = count, queued
  for outcome in string.gmatch(ARGV[8], '[^,]+') do
    if not over(c, q) then break end
    for _, victim in ipairs(redis.call('ZRANGE', byOutcome[outcome], 0, 15)) do
      if not over(c, q) then break end
      local entry = redis.call('HGET', KEYS[1], victim)
      if entry then
        c = c - 1
        q = q - tonumber(string.match(entry, '^(%d+)'))
        table.insert(victims, victim)
      end
    end
  end
  if over(c, q) then
    if count + 1 > maxQueued then return { 1 } end
    return { 2 }
  end
  for _, victim in ipairs(victims) do
    forget(victim)
    redis.call('SADD', KEYS[6], victim)
  end
end
redis.call('HSET', KEYS[1], id, ARGV[3] .. '|' .. now)
redis.call('INCRBY', KEYS[2], ARGV[3])
redis.call('ZADD', byOutcome[ARGV[7]], now, id)
local reply = { 0 }
for _, victim in ipairs(victims) do table.insert(reply, victim) end
return reply
`;

// ARGV: payload key prefix, id, JSON. Stores only while the payload is still admitted: one
// evicted between its reservation and this call must not leave bytes the bounds do not count.
const storeScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3])
return 1
`;

// ARGV: payload key prefix, id.
const releaseScript = `${forget}
redis.call('SREM', KEYS[6], ARGV[2])
return forget(ARGV[2])
`;

// Releases entries whose BullMQ job no longer exists: a producer that died between admission
// and Queue.add, or a failed job an operator removed. ARGV: payload key prefix, job key
// prefix, cutoff, ids. Keys built from ARGV share the ledger's hash tag: one Cluster slot.
const reconcileScript = `${forget}
local released = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    local admittedAt = string.match(entry, '|(%d+)$')
    if tonumber(admittedAt) < tonumber(ARGV[3]) and redis.call('EXISTS', ARGV[2] .. id) == 0 then
      released = released + forget(id)
    end
  end
end
return released
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    debugArchiverReserve(...keysAndArgs: (string | number)[]): Result<(number | string)[], Context>;
    debugArchiverRelease(...keysAndArgs: string[]): Result<number, Context>;
    debugArchiverStore(...keysAndArgs: string[]): Result<number, Context>;
    debugArchiverReconcile(...keysAndArgs: (string | number)[]): Result<number, Context>;
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

/**
 * Which waiting payloads a newcomer may push out, least valuable first. Whatever the policy,
 * a failed task's payload may push out a succeeded task's; with drop-oldest any payload may
 * push out the oldest of equal or lesser value, never a more valuable one.
 */
function evictable(policy: AdmissionPolicy, outcome: PayloadOutcome): string {
  if (policy === 'drop-oldest') {
    return { succeeded: 'succeeded', unknown: 'succeeded,unknown', failed: 'succeeded,unknown,failed' }[
      outcome
    ];
  }
  return outcome === 'failed' ? 'succeeded' : '';
}

export type Reservation =
  { admitted: true; evicted: string[] } | { admitted: false; refusal: AdmissionRefusal };

/** The Redis keys of one queue's ledger. `base` is BullMQ's own `{prefix}:{queueName}`. */
export class AdmissionLedger {
  readonly #redis: RedisClient;
  readonly #base: string;
  readonly #keys: string[];
  readonly #payloadPrefix: string;

  constructor(redis: RedisClient, redisPrefix: string, queueName: string) {
    this.#redis = redis;
    this.#base = `${redisPrefix}:${queueName}`;
    const ledger = `${this.#base}:ledger`;
    this.#keys = [
      `${ledger}:admitted`,
      `${ledger}:bytes`,
      `${ledger}:order:succeeded`,
      `${ledger}:order:unknown`,
      `${ledger}:order:failed`,
      `${ledger}:evicted`,
    ];
    this.#payloadPrefix = `${this.#base}:payload:`;
    // defineCommand is idempotent per client and caches the script by SHA (EVALSHA, EVAL on NOSCRIPT).
    redis.defineCommand('debugArchiverReserve', { numberOfKeys: 6, lua: reserveScript });
    redis.defineCommand('debugArchiverRelease', { numberOfKeys: 6, lua: releaseScript });
    redis.defineCommand('debugArchiverStore', { numberOfKeys: 6, lua: storeScript });
    redis.defineCommand('debugArchiverReconcile', { numberOfKeys: 6, lua: reconcileScript });
  }

  /** Key holding the payload's JSON until it is archived. */
  payloadKey(payloadId: string): string {
    return `${this.#payloadPrefix}${payloadId}`;
  }

  /**
   * Reserves room for `bytes` atomically under both bounds, evicting waiting payloads as the
   * policy and outcome allow (they are forgotten and their bytes deleted in the same step), or
   * says which bound refused it.
   */
  async reserve(
    payloadId: string,
    bytes: number,
    options: { maxQueued: number; maxQueuedBytes: number; policy: AdmissionPolicy; outcome: PayloadOutcome },
  ): Promise<Reservation> {
    const [code, ...evicted] = await this.#redis.debugArchiverReserve(
      ...this.#keys,
      this.#payloadPrefix,
      payloadId,
      bytes,
      Date.now(),
      options.maxQueued,
      options.maxQueuedBytes,
      options.outcome,
      evictable(options.policy, options.outcome),
    );
    if (code === 1) return { admitted: false, refusal: 'queue_full' };
    if (code === 2) return { admitted: false, refusal: 'bytes_full' };
    return { admitted: true, evicted: evicted.map(String) };
  }

  /** Stores the JSON of a payload that holds a reservation; false when it was evicted meanwhile. */
  async storePayload(payloadId: string, json: string): Promise<boolean> {
    return (await this.#redis.debugArchiverStore(...this.#keys, this.#payloadPrefix, payloadId, json)) === 1;
  }

  /** Drops the payload's entry and bytes; idempotent. True when this call released it. */
  async release(payloadId: string): Promise<boolean> {
    const released = await this.#redis.debugArchiverRelease(...this.#keys, this.#payloadPrefix, payloadId);
    return released === 1;
  }

  /** True (once) when the payload was evicted to make room for another; the marker is cleared. */
  async takeEvicted(payloadId: string): Promise<boolean> {
    return (await this.#redis.srem(this.#keys[5] ?? '', payloadId)) === 1;
  }

  /** The payload's JSON, or null when it was released already. */
  async readPayload(payloadId: string): Promise<string | null> {
    return this.#redis.get(this.payloadKey(payloadId));
  }

  async usage(): Promise<LedgerUsage> {
    const [payloads, bytes] = await Promise.all([
      this.#redis.hlen(this.#keys[0] ?? ''),
      this.#redis.get(this.#keys[1] ?? ''),
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
      const [next, flat] = await this.#redis.hscan(this.#keys[0] ?? '', cursor, 'COUNT', batchSize);
      cursor = next;
      const ids = flat.filter((_, index) => index % 2 === 0);
      if (ids.length > 0) {
        released += await this.#redis.debugArchiverReconcile(
          ...this.#keys,
          this.#payloadPrefix,
          `${this.#base}:`,
          cutoff,
          ...ids,
        );
      }
    } while (cursor !== '0');
    return released;
  }
}
