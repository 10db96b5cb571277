import { once } from 'node:events';
import type { Queue } from 'bullmq';
import type { Express } from 'express';
import { consumerSettingsFromEnv, type ConsumerSettings } from '../config.ts';
import { startArchiveConsumer } from '../consumer/archive-consumer.ts';
import { CpuProfiler, mountCpuProfileRoute, ProfilerBusyError } from '../consumer/cpu-profiler.ts';
import { EXTERNAL_MEMORY_FLAG, tuneWorkerGc } from '../consumer/gc-tuning.ts';
import { mountQueueUi } from '../consumer/queue-ui.ts';
import { createDefaultLogger, type Logger } from '../logger.ts';
import { s3CredentialsFromEnv } from './s3-from-env.ts';

/**
 * The routes the worker adds to its HTTP port: the CPU profile always (it is an ops port), the
 * queue UI only when DEBUG_ARCHIVE_QUEUE_UI=true, since it has no authentication.
 */
export function workerOpsRoutes(
  settings: Pick<ConsumerSettings, 'queueUi' | 'profileSeconds'>,
  profiler: CpuProfiler,
  logger: Logger,
): (app: Express, queue: Queue) => void {
  return (app, queue) => {
    mountCpuProfileRoute(app, profiler, { defaultSeconds: settings.profileSeconds, logger });
    if (settings.queueUi) mountQueueUi(app, queue);
  };
}

/**
 * Runs the consumer until SIGTERM or SIGINT, then drains within DEBUG_ARCHIVE_DRAIN_TIMEOUT_MS.
 * SIGUSR2 records a CPU profile for DEBUG_ARCHIVE_PROFILE_SECONDS into DEBUG_ARCHIVE_PROFILE_DIR.
 * Returns the process exit code: 0 after a shutdown, 1 when the configuration is bad.
 */
export async function runWorker(env: NodeJS.ProcessEnv): Promise<number> {
  const settings = consumerSettingsFromEnv(env);
  const logger = createDefaultLogger(env.LOG_LEVEL ?? 'info');
  if (tuneWorkerGc()) logger.debug({ v8Flag: `--${EXTERNAL_MEMORY_FLAG}` }, 'V8 flag set for the consumer');
  const profiler = new CpuProfiler({ directory: settings.profileDir });
  const recordOnSignal = (): void => {
    const seconds = settings.profileSeconds;
    logger.info({ seconds, directory: profiler.directory }, 'SIGUSR2: recording a CPU profile');
    profiler
      .record(seconds)
      .then((path) => {
        logger.info({ path, seconds, via: 'SIGUSR2' }, 'CPU profile written');
      })
      .catch((error: unknown) => {
        logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          error instanceof ProfilerBusyError ? 'SIGUSR2 ignored' : 'CPU profile failed',
        );
      });
  };
  // Listen before starting: the consumer takes jobs as it starts, and a SIGTERM then must drain.
  // SIGUSR2 too, whose default action would kill the process.
  const stop = Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  process.on('SIGUSR2', recordOnSignal);
  try {
    const consumer = await startArchiveConsumer({
      ...settings,
      credentials: s3CredentialsFromEnv(env),
      logger,
      extendOpsServer: workerOpsRoutes(settings, profiler, logger),
    });
    const signal = await stop;
    logger.info({ signal }, 'shutting down: no new jobs, draining uploads under way');
    // Before the consumer closes its HTTP port: a profile under way is cut short, written, and
    // its request answered, instead of holding the exit for up to 300 s.
    const profile = await profiler.close();
    if (profile !== undefined) logger.info({ path: profile }, 'CPU profile under way cut short and written');
    const { drained } = await consumer.close();
    logger.info(
      { drained },
      drained ? 'drained; exiting' : 'drain deadline passed; unfinished jobs left for another consumer',
    );
    return 0;
  } finally {
    process.off('SIGUSR2', recordOnSignal);
    await profiler.close().catch(() => undefined);
  }
}
