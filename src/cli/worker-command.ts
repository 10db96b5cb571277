import { once } from 'node:events';
import { consumerSettingsFromEnv } from '../config.ts';
import { startArchiveConsumer } from '../consumer/archive-consumer.ts';
import { createDefaultLogger } from '../logger.ts';
import { s3CredentialsFromEnv } from './s3-from-env.ts';

/**
 * Runs the consumer until SIGTERM or SIGINT, then drains within DEBUG_ARCHIVE_DRAIN_TIMEOUT_MS.
 * Returns the process exit code: 0 after a shutdown, 1 when the configuration is bad.
 */
export async function runWorker(env: NodeJS.ProcessEnv): Promise<number> {
  const settings = consumerSettingsFromEnv(env);
  const logger = createDefaultLogger(env.LOG_LEVEL ?? 'info');
  // Listen before starting: the consumer takes jobs as it starts, and a SIGTERM then must drain.
  const stop = Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
  const consumer = await startArchiveConsumer({
    ...settings,
    credentials: s3CredentialsFromEnv(env),
    logger,
  });
  const signal = await stop;
  logger.info({ signal }, 'shutting down: no new jobs, draining uploads under way');
  const { drained } = await consumer.close();
  logger.info(
    { drained },
    drained ? 'drained; exiting' : 'drain deadline passed; unfinished jobs left for another consumer',
  );
  return 0;
}
