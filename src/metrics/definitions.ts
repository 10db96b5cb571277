import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Every metric debug-archiver exports, in one place. Names follow Prometheus conventions:
 * one prefix, base units in the name, `_total` on counters. Node's default metrics
 * (`process_*`, `nodejs_*`: heap, GC by kind, event-loop lag) keep their standard names.
 */
export const METRIC_PREFIX = 'debug_archiver_';

const SIZE_BUCKETS = [1e3, 1e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8, 3e8];
const SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/** The drop reasons and error classes are closed sets, so label cardinality stays fixed. */
export const ERROR_CLASSES = [
  's3_client_error',
  's3_server_error',
  's3_throttled',
  'network',
  'timeout',
  'aborted',
  'bad_payload',
  'other',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/**
 * Node's default metrics (heap, GC by kind, event-loop lag, CPU, handles), less three gauges
 * whose `_total` names break Prometheus conventions (promtool rejects them); the
 * `nodejs_active_handles`, `_requests` and `_resources` gauges by type give the same totals.
 */
export function registerNodeMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ]) {
    registry.removeSingleMetric(name);
  }
}

/** The metric of that name in the registry, made on first use; several producers may share one. */
function single<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function producerMetrics(registry: Registry, dropReasons: readonly string[]) {
  const metrics = {
    enqueues: single(
      registry,
      `${METRIC_PREFIX}enqueue_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}enqueue_total`,
          help: 'Enqueue calls by result (queued, dropped) and drop reason ("" when queued).',
          labelNames: ['result', 'reason'] as const,
          registers: [registry],
        }),
    ),
    enqueueDuration: single(
      registry,
      `${METRIC_PREFIX}enqueue_duration_seconds`,
      () =>
        new Histogram({
          name: `${METRIC_PREFIX}enqueue_duration_seconds`,
          help: 'Wall time of enqueue calls, serialisation included.',
          labelNames: ['result'] as const,
          buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
          registers: [registry],
        }),
    ),
    evicted: single(
      registry,
      `${METRIC_PREFIX}evicted_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}evicted_total`,
          help: 'Waiting payloads evicted to admit a newer or more valuable one (admission policy).',
          registers: [registry],
        }),
    ),
    enqueuedBytes: single(
      registry,
      `${METRIC_PREFIX}enqueued_bytes_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}enqueued_bytes_total`,
          help: 'JSON bytes of the payloads queued.',
          registers: [registry],
        }),
    ),
    busySeconds: single(
      registry,
      `${METRIC_PREFIX}enqueue_busy_seconds_total`,
      () =>
        new Counter({
          name: `${METRIC_PREFIX}enqueue_busy_seconds_total`,
          help: "Main-thread time enqueues spent serialising and sending payloads (what maxCpuShare limits): its rate is archiving's share of the process's event loop.",
          registers: [registry],
        }),
    ),
  };
  // Every series exists from the start, so rate() and alerts see zeros rather than no data.
  metrics.enqueues.inc({ result: 'queued', reason: '' }, 0);
  for (const reason of dropReasons) metrics.enqueues.inc({ result: 'dropped', reason }, 0);
  return metrics;
}

export interface ConsumerCollectors {
  /** Reads queue depth from Redis and sets queue_jobs, queued_payloads and queued_bytes. */
  queueDepth(): Promise<void>;
  /** Sets s3_sockets from the S3 client's agents. */
  sockets(): void;
  /** Sets redaction_thread_memory_bytes from the redaction threads' heaps. */
  redactionMemory(): Promise<void>;
}

export function consumerMetrics(registry: Registry, collectors: ConsumerCollectors) {
  return {
    // Registered first: its scrape-time read of Redis also sets the two gauges after it.
    queueJobs: new Gauge({
      name: `${METRIC_PREFIX}queue_jobs`,
      help: 'Archive jobs in the queue by BullMQ state, read from Redis at scrape time.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect: () => collectors.queueDepth(),
    }),
    queuedPayloads: new Gauge({
      name: `${METRIC_PREFIX}queued_payloads`,
      help: 'Payloads admitted and not yet archived, across all producers (bounded by maxQueued).',
      registers: [registry],
    }),
    queuedBytes: new Gauge({
      name: `${METRIC_PREFIX}queued_bytes`,
      help: 'JSON bytes admitted and not yet archived, across all producers (bounded by maxQueuedBytes).',
      registers: [registry],
    }),
    queueScrapeErrors: new Counter({
      name: `${METRIC_PREFIX}queue_scrape_errors_total`,
      help: 'Scrapes that could not read the queue depth from Redis.',
      registers: [registry],
    }),
    redactionThreadMemory: new Gauge({
      name: `${METRIC_PREFIX}redaction_thread_memory_bytes`,
      help: 'Memory the redaction threads hold as V8 counts it, at scrape time: heap (JavaScript) and external (payload bytes being redacted, slots, SIMD memories). External follows the payloads being redacted now; one that climbs with every payload is memory a thread keeps.',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect: () => collectors.redactionMemory(),
    }),
    redactionThreadExits: new Counter({
      name: `${METRIC_PREFIX}redaction_thread_exits_total`,
      help: 'Redaction threads that stopped on their own (out of memory, say); the attempts of the payloads they held failed and are retried.',
      registers: [registry],
    }),
    archived: new Counter({
      name: `${METRIC_PREFIX}archived_payloads_total`,
      help: 'Payloads archived (upload confirmed by S3).',
      registers: [registry],
    }),
    archivedBytes: new Counter({
      name: `${METRIC_PREFIX}archived_bytes_total`,
      help: 'Bytes archived, by stage: json (in), gzip, base64 (stored).',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    payloadSize: new Histogram({
      name: `${METRIC_PREFIX}payload_size_bytes`,
      help: 'Size of each archived payload by stage: json, gzip, base64.',
      labelNames: ['stage'] as const,
      buckets: SIZE_BUCKETS,
      registers: [registry],
    }),
    compressionRatio: new Histogram({
      name: `${METRIC_PREFIX}compression_ratio`,
      help: 'JSON bytes divided by gzip bytes, per archived payload.',
      buckets: [1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50],
      registers: [registry],
    }),
    archiveDuration: new Histogram({
      name: `${METRIC_PREFIX}archive_duration_seconds`,
      help: 'Time to archive one payload: read from Redis, encode, upload, release.',
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    archiveLag: new Histogram({
      name: `${METRIC_PREFIX}archive_lag_seconds`,
      help: 'Time from enqueue to the upload confirmed by S3.',
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    }),
    archivesInFlight: new Gauge({
      name: `${METRIC_PREFIX}archives_in_flight`,
      help: 'Payloads this consumer is archiving now.',
      registers: [registry],
    }),
    uploadAttempts: new Counter({
      name: `${METRIC_PREFIX}upload_attempts_total`,
      help: 'Archive attempts started (first tries and retries).',
      registers: [registry],
    }),
    uploadFailures: new Counter({
      name: `${METRIC_PREFIX}upload_failures_total`,
      help: 'Archive attempts that failed, by error class; final="true" when no attempt is left.',
      labelNames: ['error_class', 'final'] as const,
      registers: [registry],
    }),
    s3Sockets: new Gauge({
      name: `${METRIC_PREFIX}s3_sockets`,
      help: 'Sockets of the S3 client: active (in use), idle (kept alive), and requests waiting for one.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect: () => {
        collectors.sockets();
      },
    }),
  };
}

export type ProducerMetrics = ReturnType<typeof producerMetrics>;
export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;
