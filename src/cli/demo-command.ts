import { Redactor } from '../redaction/redactor.ts';
import { freePort } from '../local/free-port.ts';
import { Redis } from 'ioredis';
import { consumerSettingsFromEnv, producerSettingsFromEnv } from '../config.ts';
import { ArchiveWatch } from '../demo/archive-watch.ts';
import { createCapturedLogger } from '../demo/captured-log.ts';
import { Cleanup } from '../demo/cleanup.ts';
import { provideRedis } from '../demo/demo-redis.ts';
import { provideS3, type DemoS3 } from '../demo/demo-s3.ts';
import { enqueueAndFollow } from '../demo/follow-archive.ts';
import { formatSeconds } from '../demo/format.ts';
import { abortOnInterrupt } from '../demo/interrupts.ts';
import { createProgressView, type ProgressView } from '../demo/progress.ts';
import type { SamplePayload } from '../demo/sample-payload.ts';
import { placeLines, resultLines } from '../demo/summary.ts';
import { spawnWorker, type WorkerProcess } from '../demo/worker-process.ts';
import { ConfigError, DebugArchiverError } from '../errors.ts';
import { createDebugPayloadProducer } from '../producer/producer.ts';
import { loadDebugPayload } from '../pull.ts';
import { createS3Client } from '../storage/s3-client.ts';

/**
 * The demo's own queue: on a Redis from REDIS_URL that a real worker also uses, the two would
 * otherwise take each other's payloads into the wrong bucket.
 */
const DEMO_QUEUE = 'debug-archive-demo';
/** Simulated tasks in progress at once, like the slots of one task worker. */
const TASK_CONCURRENCY = 8;
/** How long the worker may take to archive everything once the last task enqueued. */
const DRAIN_TIMEOUT_MS = 120_000;
const KEYS_SHOWN = 3;

/** The worker's configuration: the caller's environment pointed at the demo's servers. */
function workerEnvironment(
  env: NodeJS.ProcessEnv,
  redisUrl: string,
  s3: DemoS3,
  metricsPort: number,
): NodeJS.ProcessEnv {
  const workerEnv: NodeJS.ProcessEnv = {
    ...env,
    REDIS_URL: redisUrl,
    DEBUG_ARCHIVE_QUEUE: DEMO_QUEUE,
    DEBUG_ARCHIVE_BUCKET: s3.bucket,
    S3_ENDPOINT: s3.endpoint,
    AWS_REGION: s3.region,
    LOG_LEVEL: 'warn',
    METRICS_PORT: String(metricsPort),
    METRICS_HOST: '127.0.0.1',
  };
  if (s3.embedded !== undefined) {
    // The caller's own AWS identity must not leak into requests to the embedded store.
    delete workerEnv.AWS_SESSION_TOKEN;
    delete workerEnv.AWS_PROFILE;
    workerEnv.AWS_ACCESS_KEY_ID = s3.embedded.accessKeyId;
    workerEnv.AWS_SECRET_ACCESS_KEY = s3.embedded.secretAccessKey;
  }
  return workerEnv;
}

/**
 * `debug-archiver demo`: Redis, an S3 store, the consumer as a separate `worker` process and a
 * simulated task worker in this process, all wired together; then one payload pulled back
 * and checked. Returns the exit code: 0 when everything was archived, the pulled payload was
 * identical and the worker shut down cleanly on SIGTERM; 130 when interrupted.
 */
export async function runDemo(options: { tasks: number; env: NodeJS.ProcessEnv }): Promise<number> {
  const { tasks, env } = options;
  if (!Number.isInteger(tasks) || tasks < 1 || tasks > 100_000) {
    throw new ConfigError([`--tasks: expected a whole number from 1 to 100000, got ${String(tasks)}`]);
  }
  const out = process.stdout;
  const say = (line = ''): void => {
    out.write(`${line}\n`);
  };
  const warn = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const started = Date.now();
  const cleanup = new Cleanup();
  const interrupt = new AbortController();
  const stopListening = abortOnInterrupt(interrupt, (signal) => {
    warn(`\n${signal}: stopping the demo and cleaning up (press Ctrl-C again to quit at once)`);
  });
  let worker: WorkerProcess | undefined;
  let progress: ProgressView | undefined;

  try {
    say(
      `debug-archiver demo: ${tasks} simulated tasks -> bounded Redis queue -> worker process -> S3 (JSON, gzip, base64)`,
    );
    say();
    const redis = await provideRedis(env);
    cleanup.add('Redis', () => redis.stop());
    say(`  Redis   ${redis.url} (${redis.origin})`);
    const s3 = await provideS3(env, process.cwd());
    cleanup.add('the S3 store', () => s3.stop());
    say(`  S3      ${s3.endpoint} (${s3.origin}), bucket ${s3.bucket}`);
    if (s3.embedded !== undefined) say(`  folder  ${s3.embedded.directory}`);

    const metricsPort = await freePort();
    const workerEnv = workerEnvironment(env, redis.url, s3, metricsPort);
    // Both sides read the same variables, as in production; bad ones fail here, not in the child.
    const consumerSettings = consumerSettingsFromEnv(workerEnv);
    const producerSettings = producerSettingsFromEnv(workerEnv);
    const spawned = spawnWorker(workerEnv);
    worker = spawned;
    const workerGraceMs = consumerSettings.drainTimeoutMs + 5_000;
    cleanup.add('the worker process', () => spawned.stop(workerGraceMs));
    say(`  worker  pid ${spawned.pid ?? '?'}: ${spawned.command} (queue ${DEMO_QUEUE})`);
    say(`  metrics http://127.0.0.1:${metricsPort}/metrics (also /healthz, /readyz)`);
    say();

    const monitor = new Redis(redis.url, {
      maxRetriesPerRequest: 1,
      connectionName: 'debug-archiver:demo-monitor',
    });
    monitor.on('error', () => undefined);
    cleanup.add('the monitoring Redis connection', () =>
      monitor.quit().catch(() => {
        monitor.disconnect();
      }),
    );
    const watch = new ArchiveWatch(monitor, producerSettings);

    const producerLog = createCapturedLogger('debug-archiver:demo-producer');
    const producer = createDebugPayloadProducer({ ...producerSettings, logger: producerLog.logger });
    cleanup.add('the producer', () => producer.close());

    const view = createProgressView(out, tasks);
    progress = view;

    const keys: string[] = [];
    let queuedBytes = 0;
    // The payload with the most exchanges is the one pulled back: the largest makes the best check.
    let sample: { key: string; payload: SamplePayload } | undefined;
    const followed = await enqueueAndFollow({
      tasks,
      concurrency: TASK_CONCURRENCY,
      producer,
      watch,
      worker: spawned,
      progress: view,
      signal: interrupt.signal,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
      onOutcome: ({ payload, targetBytes, result }) => {
        if (result.status !== 'queued') return;
        queuedBytes += targetBytes;
        if (keys.length < KEYS_SHOWN) keys.push(result.key);
        if (sample === undefined || payload.exchanges.length > sample.payload.exchanges.length) {
          sample = { key: result.key, payload };
        }
      },
    });
    view.stop();
    say();
    for (const message of producerLog.messages()) warn(`producer: ${message}`);
    if (sample === undefined) {
      throw new DebugArchiverError(
        'ERR_LOCAL_SERVER',
        'every payload was dropped, so there is nothing to pull back',
      );
    }

    const s3Client = createS3Client({
      region: s3.region,
      endpoint: s3.endpoint,
      maxSockets: 4,
      credentials: s3.credentials,
    });
    cleanup.add('the S3 client', () => {
      s3Client.destroy();
      return Promise.resolve();
    });
    const pulled = await loadDebugPayload({
      s3: s3Client,
      bucket: s3.bucket,
      key: sample.key,
      signal: interrupt.signal,
    });
    // The consumer redacts secrets by default: compare with the enqueued payload redacted alike.
    const expected = new Redactor().redactInPlace(
      JSON.parse(JSON.stringify(sample.payload)) as unknown,
    ).value;
    if (JSON.stringify(pulled.payload) !== JSON.stringify(expected)) {
      throw new DebugArchiverError(
        'ERR_CORRUPT_OBJECT',
        `${sample.key} was pulled back but differs from what was enqueued (secrets redacted)`,
      );
    }

    const exit = await spawned.stop(workerGraceMs);
    for (const line of resultLines({
      tasks,
      queued: watch.tracked,
      queuedBytes,
      dropped: producer.stats().dropped,
      archived: followed.archived,
      enqueueMs: followed.enqueueMs,
      archiveMs: followed.archiveMs,
      pulled: { key: sample.key, metadata: pulled.metadata },
      worker: exit,
      keys,
    })) {
      say(line);
    }
    say();
    for (const line of placeLines(
      { redis, s3, queueName: DEMO_QUEUE, redisPrefix: producerSettings.redisPrefix, cwd: process.cwd() },
      keys,
    )) {
      say(line);
    }
    say();
    if (exit.code !== 0) {
      warn(
        `The worker did not shut down cleanly on SIGTERM. Its last output:\n${spawned.output() || '(none)'}`,
      );
      return 1;
    }
    const kept = s3.embedded === undefined ? '' : '; the S3 folder is kept';
    say(`Done in ${formatSeconds(Date.now() - started)}. Stopped everything the demo started${kept}.`);
    return 0;
  } catch (error) {
    progress?.stop();
    const output = worker?.output() ?? '';
    if (interrupt.signal.aborted) {
      warn('Interrupted.');
      return 130;
    }
    if (output !== '') warn(`The worker's last output:\n${output}`);
    throw error;
  } finally {
    await cleanup.run(warn);
    stopListening();
  }
}
