import type { Server } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { Queue, Worker, type Job } from 'bullmq';
import type { Express } from 'express';
import { Registry } from 'prom-client';
import { AdmissionLedger } from '../admission-ledger.ts';
import type { ArchiveJobResult } from '../archive-job.ts';
import { resolveConsumerSettings, type ConsumerSettings } from '../config.ts';
import { createDefaultLogger, type Logger } from '../logger.ts';
import { instrumentConsumer } from '../metrics/consumer-instrumentation.ts';
import { registerNodeMetrics } from '../metrics/definitions.ts';
import { createConsumerRedis, type RedisClient } from '../redis-client.ts';
import { createS3Agents, createS3Client, type S3Agents, type S3ClientOptions } from '../storage/s3-client.ts';
import { createArchiveProcessor } from './archive-processor.ts';
import { ByteBudget } from './byte-budget.ts';
import { startOpsServer } from './ops-server.ts';
import { RedactionPool } from '../redaction/redaction-pool.ts';
import { Redactor, type RedactionOptions } from '../redaction/redactor.ts';

/** The redaction rules the options ask for; without `redaction` in code, the settings decide. */
function consumerRedaction(
  redaction: RedactionOptions | false | undefined,
  settings: ConsumerSettings,
): RedactionOptions | undefined {
  if (redaction === false) return undefined;
  if (redaction !== undefined) return redaction;
  return settings.redact ? { extra: settings.redactKeys, keep: settings.keepKeys } : undefined;
}

/** How often the consumer releases ledger entries whose job is gone. */
const RECONCILE_INTERVAL_MS = 60_000;
/** How old such an entry must be: far longer than any admission takes to add its job. */
const RECONCILE_GRACE_MS = 5 * 60_000;

export interface ArchiveConsumerOptions extends Partial<ConsumerSettings> {
  /** The bucket objects go to. */
  bucket: string;
  /**
   * A live S3 client to use; the caller keeps owning it. Made by createS3Client, its requests
   * for a job are aborted with the job (past the drain deadline, say); with another client,
   * lib-storage's PutObject, which takes no signal, runs on until that client's timeouts.
   */
  s3?: S3Client;
  /** Credentials for the S3 client the consumer makes; default: the SDK's chain. */
  credentials?: S3ClientOptions['credentials'];
  /** A live ioredis client to use (BullMQ duplicates it for blocking reads); the caller keeps owning it. */
  redis?: RedisClient;
  logger?: Logger;
  /**
   * Registry for the consumer's metrics, e.g. the host application's. Default: a registry of
   * its own with Node's default metrics, served on `metricsPort`.
   */
  registry?: Registry;
  /**
   * Secret redaction before anything reaches S3: on by default with the built-in names; pass
   * extra names, names to keep or a custom function, or `false` to store payloads as they came.
   */
  redaction?: RedactionOptions | false;
  /** More routes on the metrics port (the queue UI, the profiler), given the queue. */
  extendOpsServer?: (app: Express, queue: Queue) => void;
}

export interface ArchiveConsumer {
  /**
   * Stops taking jobs and lets the uploads under way finish for up to `drainTimeoutMs`. Past
   * that they are aborted (multipart uploads included): the attempt fails and the job goes back
   * to the queue with its backoff, for this or another consumer; its payload stays in Redis, so
   * nothing is lost. A job whose abort does not settle stays active and is recovered as stalled.
   * Then releases what it created, in reverse order.
   */
  close(): Promise<{ drained: boolean }>;
  /** Payloads admitted and not yet archived, across all producers. */
  usage: AdmissionLedger['usage'];
  readonly settings: ConsumerSettings;
  readonly registry: Registry;
  /** The port `/metrics`, `/healthz` and `/readyz` are served on; undefined when disabled. */
  readonly metricsPort: number | undefined;
}

/**
 * Starts the consumer: a BullMQ worker archiving `concurrency` payloads at a time, a
 * reconciler of the admission ledger, and the metrics port. Both the `worker/` process and
 * `debug-archiver worker` start it through this function.
 *
 * Memory: per archive in flight, about partSizeBytes x (uploadQueueSize + 1) in lib-storage
 * and (gzipParallelism + 2) x 512 KiB in the encoding stages, plus what reading takes: a
 * payload redacted here over 120 KiB and up to 16 MiB goes whole to a redaction thread, step
 * by step as it is read, and is redacted there (its JSON bytes, at most maxRedactingBytes of
 * JSON held so at once; about 16 MB per thread, at most redactionThreads of them); a smaller one is parsed whole (about
 * 4x its JSON); every other one streams from Redis in 1 MiB steps, a larger one redacted one
 * value of up to 4 KiB around each suspect at a time (a single larger string with a suspect is
 * held whole). `concurrency` of those at once.
 */
export async function startArchiveConsumer(options: ArchiveConsumerOptions): Promise<ArchiveConsumer> {
  const {
    s3: givenS3,
    redis: givenRedis,
    credentials,
    logger = createDefaultLogger('info'),
    registry: givenRegistry,
    extendOpsServer,
    redaction,
    ...tunables
  } = options;
  const settings = resolveConsumerSettings(tunables);
  const releases: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const release of releases.reverse()) await release().catch(() => undefined);
    releases.length = 0;
  };

  try {
    const redis = givenRedis ?? createConsumerRedis(settings.redisUrl, {}, settings.redisCluster);
    if (!givenRedis) {
      redis.on('error', (error: Error) => {
        logger.warn({ err: error.message }, 'redis connection error');
      });
      releases.push(() =>
        redis.quit().catch(() => {
          redis.disconnect();
        }),
      );
    }
    let agents: S3Agents | undefined;
    let s3 = givenS3;
    if (s3 === undefined) {
      agents = createS3Agents(settings.maxSockets);
      const made = createS3Client({
        region: settings.region,
        endpoint: settings.s3Endpoint,
        maxSockets: settings.maxSockets,
        credentials,
        agents,
        signPayload: settings.s3SignPayload,
        oneBucket: true,
      });
      releases.push(() => {
        made.destroy();
        return Promise.resolve();
      });
      s3 = made;
    }
    const registry = givenRegistry ?? new Registry();
    if (!givenRegistry) registerNodeMetrics(registry);

    const ledger = new AdmissionLedger(redis, settings.redisPrefix, settings.queueName);
    const queue = new Queue(settings.queueName, { connection: redis, prefix: settings.redisPrefix });
    queue.on('error', (error: Error) => {
      logger.warn({ err: error.message }, 'queue error');
    });
    releases.push(() => queue.close());
    let redactionPool: RedactionPool | undefined;
    const instrumentation = instrumentConsumer({
      registry,
      queue,
      ledger,
      agents,
      redactionMemory: () => redactionPool?.memory(),
    });
    const rules = consumerRedaction(redaction, settings);
    // A custom function cannot be sent to another thread: with one, redaction stays here.
    if (rules !== undefined && rules.custom === undefined && settings.redactionThreads > 0) {
      const pool = new RedactionPool({
        threads: settings.redactionThreads,
        rules: { extra: rules.extra, keep: rules.keep },
        logger,
        onThreadStopped: () => {
          instrumentation.redactionThreadStopped();
        },
      });
      releases.push(() => pool.close());
      // Loading while the consumer connects, not while its first payloads wait; no more than
      // the payloads it archives at once could ever use.
      pool.start(settings.concurrency);
      redactionPool = pool;
    }
    const processor = createArchiveProcessor({
      s3,
      bucket: settings.bucket,
      ledger,
      logger,
      redis,
      redactingBudget: new ByteBudget(settings.maxRedactingBytes),
      gzipLevel: settings.gzipLevel,
      gzipParallelism: settings.gzipParallelism,
      partSizeBytes: settings.partSizeBytes,
      uploadQueueSize: settings.uploadQueueSize,
      redactor: rules === undefined ? undefined : new Redactor(rules),
      redactionPool,
      protection: {
        serverSideEncryption: settings.kmsKeyId === undefined ? settings.serverSideEncryption : 'aws:kms',
        kmsKeyId: settings.kmsKeyId,
        storageClass: settings.storageClass,
      },
    });

    const inFlight = new Set<AbortController>();
    const worker = new Worker<unknown, ArchiveJobResult>(
      settings.queueName,
      async (job: Job, _token?: string, signal?: AbortSignal) => {
        const controller = new AbortController();
        inFlight.add(controller);
        try {
          const combined = signal ? AbortSignal.any([signal, controller.signal]) : controller.signal;
          return await instrumentation.attempt(job, () => processor(job, combined));
        } finally {
          inFlight.delete(controller);
        }
      },
      {
        connection: redis,
        prefix: settings.redisPrefix,
        concurrency: settings.concurrency,
        maxStalledCount: 3,
        lockDuration: settings.lockDurationMs,
        stalledInterval: settings.stalledIntervalMs,
        autorun: false,
      },
    );
    releases.push(() => worker.close(true));
    worker.on('error', (error: Error) => {
      logger.warn({ err: error.message }, 'worker error');
    });
    worker.on('failed', (job: Job | undefined, error: Error) => {
      const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
      instrumentation.failed(error, final);
      logger.warn(
        {
          key: (job?.data as { key?: string } | undefined)?.key,
          attempt: job?.attemptsMade,
          final,
          err: error.message,
        },
        final
          ? 'archive failed for good; payload kept in the failed set'
          : 'archive attempt failed; will retry',
      );
    });
    worker.on('completed', (_job: Job, result: ArchiveJobResult) => {
      logger.debug(
        { key: result.key, jsonBytes: result.jsonBytes, base64Bytes: result.base64Bytes },
        'archived',
      );
    });

    let reconciling: Promise<unknown> = Promise.resolve();
    const reconciler = setInterval(() => {
      reconciling = ledger
        .reconcile(RECONCILE_GRACE_MS)
        .then(({ released, markers }) => {
          if (released > 0) logger.warn({ released }, 'released ledger entries whose job was gone');
          if (markers > 0) logger.info({ markers }, 'dropped eviction markers whose job was gone');
        })
        .catch((error: unknown) => {
          logger.warn({ err: String(error) }, 'ledger reconcile failed');
        });
    }, RECONCILE_INTERVAL_MS);
    reconciler.unref();
    releases.push(async () => {
      clearInterval(reconciler);
      await reconciling;
    });

    let server: Server | undefined;
    if (settings.metricsPort !== undefined) {
      server = await startOpsServer(
        {
          registry,
          redis,
          s3,
          bucket: settings.bucket,
          extend: (app) => {
            extendOpsServer?.(app, queue);
          },
        },
        settings.metricsPort,
        settings.metricsHost,
      );
      const listening = server;
      // Released first on close would stop /metrics during the drain; it goes last instead.
      releases.unshift(
        () =>
          new Promise<void>((resolve) => {
            listening.closeAllConnections();
            listening.close(() => {
              resolve();
            });
          }),
      );
    }

    worker.run().catch((error: unknown) => {
      logger.error({ err: String(error) }, 'worker stopped');
    });
    await worker.waitUntilReady();
    const address = server?.address();
    const metricsPort = typeof address === 'object' && address !== null ? address.port : undefined;
    logger.info(
      { queue: settings.queueName, bucket: settings.bucket, concurrency: settings.concurrency, metricsPort },
      'debug-archiver consumer started',
    );

    let closing: Promise<{ drained: boolean }> | undefined;
    return {
      close: () => {
        closing ??= (async () => {
          const deadline = new AbortController();
          const drained = await Promise.race([
            worker.close().then(() => true),
            delay(settings.drainTimeoutMs, false, { signal: deadline.signal }).catch(() => false),
          ]);
          deadline.abort();
          if (!drained) {
            logger.warn({ active: inFlight.size }, 'drain deadline passed; aborting uploads under way');
            for (const controller of inFlight) controller.abort(new Error('consumer shutting down'));
          }
          await close();
          return { drained };
        })();
        return closing;
      },
      usage: () => ledger.usage(),
      settings,
      registry,
      metricsPort,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
