import type { Job, Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import type { AdmissionLedger } from '../admission-ledger.ts';
import type { ArchiveJobData, ArchiveJobResult } from '../archive-job.ts';
import { s3SocketCounts, type S3Agents } from '../storage/s3-client.ts';
import { consumerMetrics, ERROR_CLASSES } from './definitions.ts';
import { classifyError } from './error-class.ts';

/** BullMQ states exported as queue_jobs{state}. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const;

export interface ConsumerInstrumentationDeps {
  registry: Registry;
  queue: Queue;
  ledger: AdmissionLedger;
  /** The S3 client's agents, when the consumer made the client itself. */
  agents: S3Agents | undefined;
  /** What the redaction threads hold now; undefined when there are none. */
  redactionMemory: () => Promise<{ heapBytes: number; externalBytes: number }> | undefined;
}

/**
 * Records what the consumer does as metrics. Queue depth is read from Redis when Prometheus
 * scrapes (one job-count call and one ledger read), so a dashboard shows the depth of a queue
 * whose producers live in other services.
 */
export function instrumentConsumer(deps: ConsumerInstrumentationDeps) {
  const metrics = consumerMetrics(deps.registry, {
    queueDepth: async () => {
      try {
        const [counts, usage] = await Promise.all([
          deps.queue.getJobCounts(...QUEUE_STATES),
          deps.ledger.usage(),
        ]);
        for (const state of QUEUE_STATES) metrics.queueJobs.set({ state }, counts[state] ?? 0);
        metrics.queuedPayloads.set(usage.payloads);
        metrics.queuedBytes.set(usage.bytes);
      } catch {
        metrics.queueScrapeErrors.inc();
      }
    },
    sockets: () => {
      if (deps.agents === undefined) return;
      const counts = s3SocketCounts(deps.agents);
      metrics.s3Sockets.set({ state: 'active' }, counts.active);
      metrics.s3Sockets.set({ state: 'idle' }, counts.idle);
      metrics.s3Sockets.set({ state: 'waiting' }, counts.waiting);
    },
    redactionMemory: async () => {
      const memory = (await deps.redactionMemory()) ?? { heapBytes: 0, externalBytes: 0 };
      metrics.redactionThreadMemory.set({ kind: 'heap' }, memory.heapBytes);
      metrics.redactionThreadMemory.set({ kind: 'external' }, memory.externalBytes);
    },
  });

  // Every series exists from the start, so rate() and alerts see zeros rather than no data.
  for (const errorClass of ERROR_CLASSES) {
    for (const final of ['true', 'false']) metrics.uploadFailures.inc({ error_class: errorClass, final }, 0);
  }

  return {
    /** Wraps one archive attempt. */
    async attempt(job: Job, run: () => Promise<ArchiveJobResult>): Promise<ArchiveJobResult> {
      metrics.uploadAttempts.inc();
      metrics.archivesInFlight.inc();
      const stopTimer = metrics.archiveDuration.startTimer();
      try {
        const result = await run();
        stopTimer();
        if (result.alreadyArchived === undefined && result.evicted !== true) {
          metrics.archived.inc();
          metrics.archivedBytes.inc({ stage: 'json' }, result.jsonBytes);
          metrics.archivedBytes.inc({ stage: 'gzip' }, result.gzipBytes);
          metrics.archivedBytes.inc({ stage: 'base64' }, result.base64Bytes);
          metrics.payloadSize.observe({ stage: 'json' }, result.jsonBytes);
          metrics.payloadSize.observe({ stage: 'gzip' }, result.gzipBytes);
          metrics.payloadSize.observe({ stage: 'base64' }, result.base64Bytes);
          if (result.gzipBytes > 0) metrics.compressionRatio.observe(result.jsonBytes / result.gzipBytes);
          const enqueuedAt = Date.parse((job.data as Partial<ArchiveJobData>).enqueuedAt ?? '');
          if (!Number.isNaN(enqueuedAt))
            metrics.archiveLag.observe(Math.max(0, Date.now() - enqueuedAt) / 1000);
        }
        return result;
      } finally {
        metrics.archivesInFlight.dec();
      }
    },
    /** Counts a redaction thread that stopped on its own. */
    redactionThreadStopped(): void {
      metrics.redactionThreadExits.inc();
    },
    /** Counts a failed attempt; `final` when the payload now waits in the failed set. */
    failed(error: unknown, final: boolean): void {
      metrics.uploadFailures.inc({ error_class: classifyError(error), final: String(final) });
    },
  };
}
