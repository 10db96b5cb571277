import { describe, expect, it } from 'vitest';
import {
  consumerSettingsFromEnv,
  defaults,
  producerSettingsFromEnv,
  resolveProducerSettings,
} from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has a default for every producer setting', () => {
    const settings = producerSettingsFromEnv({});
    expect(settings.maxQueued).toBe(defaults.maxQueued);
    expect(settings.maxQueuedBytes).toBe(defaults.maxQueuedBytes);
    expect(settings.maxPayloadBytes).toBe(defaults.maxPayloadBytes);
    expect(settings.redisUrl).toBe(defaults.redisUrl);
    expect(settings.keyPrefix).toBe(defaults.keyPrefix);
  });

  it('reads the documented variables', () => {
    const settings = consumerSettingsFromEnv({
      REDIS_URL: 'rediss://user:secret@redis.internal:6380/2',
      DEBUG_ARCHIVE_BUCKET: 'my-archive',
      DEBUG_ARCHIVE_PREFIX: 'team/debug',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      AWS_REGION: 'eu-west-1',
      DEBUG_ARCHIVE_CONCURRENCY: '8',
      DEBUG_ARCHIVE_MAX_SOCKETS: '2048',
      DEBUG_ARCHIVE_GZIP_LEVEL: '1',
      DEBUG_ARCHIVE_S3_SIGN_PAYLOAD: 'true',
    });
    expect(settings).toMatchObject({
      redisUrl: 'rediss://user:secret@redis.internal:6380/2',
      bucket: 'my-archive',
      keyPrefix: 'team/debug',
      s3Endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      concurrency: 8,
      maxSockets: 2048,
      gzipLevel: 1,
      s3SignPayload: true,
    });
  });

  it('names every bad variable in one error', () => {
    const error = configError(() =>
      consumerSettingsFromEnv({
        DEBUG_ARCHIVE_MAX_SOCKETS: 'abc',
        DEBUG_ARCHIVE_GZIP_LEVEL: '42',
        DEBUG_ARCHIVE_CONCURRENCY: '1.5',
        REDIS_URL: 'http://nope',
        DEBUG_ARCHIVE_PREFIX: '../escape',
      }),
    );
    const text = error.message;
    for (const name of [
      'DEBUG_ARCHIVE_MAX_SOCKETS="abc"',
      'DEBUG_ARCHIVE_GZIP_LEVEL="42"',
      'DEBUG_ARCHIVE_CONCURRENCY="1.5"',
      'REDIS_URL="http://nope"',
      'DEBUG_ARCHIVE_PREFIX="../escape"',
      'DEBUG_ARCHIVE_BUCKET=""',
    ]) {
      expect(text).toContain(name);
    }
    expect(error.problems).toHaveLength(6);
    expect(error.code).toBe('ERR_INVALID_CONFIG');
  });

  it('never prints a password from a URL', () => {
    const error = configError(() =>
      consumerSettingsFromEnv({ REDIS_URL: 'redis://user:hunter2@', DEBUG_ARCHIVE_BUCKET: 'b-1' }),
    );
    expect(error.message).toContain('REDIS_URL="redis://***@"');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses a payload limit above the queue byte limit', () => {
    const error = configError(() =>
      resolveProducerSettings({ maxQueuedBytes: 1_000_000, maxPayloadBytes: 2_000_000 }),
    );
    expect(error.message).toContain('option maxPayloadBytes');
  });

  it('reads the CPU share as a fraction of the event loop, and refuses none or more than all of it', () => {
    expect(producerSettingsFromEnv({}).maxCpuShare).toBe(0.3);
    expect(producerSettingsFromEnv({ DEBUG_ARCHIVE_MAX_CPU_SHARE: '0.5' }).maxCpuShare).toBe(0.5);
    for (const bad of ['0', '1.5', 'half']) {
      expect(
        configError(() => producerSettingsFromEnv({ DEBUG_ARCHIVE_MAX_CPU_SHARE: bad })).message,
      ).toContain(`DEBUG_ARCHIVE_MAX_CPU_SHARE="${bad}"`);
    }
  });

  it('names options passed in code', () => {
    const error = configError(() => resolveProducerSettings({ maxQueued: 0, enqueueTimeoutMs: -1 }));
    expect(error.message).toContain('option maxQueued');
    expect(error.message).toContain('option enqueueTimeoutMs');
  });
});
