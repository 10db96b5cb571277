import type { DropReason } from '../../src/producer/producer.ts';

/** What the test tells an enqueue-burst child (its only argument, as JSON). */
export interface BurstConfig {
  redisUrl: string;
  queueName: string;
  /** Tag of this child inside its payloads. */
  tag: string;
  /** Enqueues fired at once after `go`. */
  count: number;
  /** Exact JSON bytes of each payload. */
  payloadBytes: number;
  maxQueued?: number;
  maxQueuedBytes?: number;
  maxPayloadBytes?: number;
  enqueueTimeoutMs?: number;
  admissionPolicy?: 'drop-newest' | 'drop-oldest' | 'wait';
  /** Outcome of the tasks: every payload, or alternating succeeded/failed with 'mixed'. */
  outcome?: 'failed' | 'succeeded' | 'mixed';
}

/** The child's one line of JSON on stdout once its burst settled. */
export interface BurstResult {
  tag: string;
  queued: number;
  queuedBytes: number;
  dropped: Partial<Record<DropReason, number>>;
  /** Enqueues that rejected instead of resolving (a broken contract). */
  rejected: number;
}

/** Printed once the child is connected and waits for `go` on stdin. */
export const READY_LINE = 'ready';
/** Written by the test to every child's stdin at once. */
export const GO_LINE = 'go';
