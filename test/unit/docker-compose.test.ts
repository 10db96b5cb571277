import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>;
};
const words = (value: string[] | string | undefined): string =>
  Array.isArray(value) ? value.join(' ') : (value ?? '');

describe('docker-compose.yml', () => {
  it('names Redis, MinIO, the bucket set-up and the consumer', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['consumer', 'create-bucket', 'minio', 'redis']);
  });

  it('runs Redis with AOF and noeviction', () => {
    const command = words(compose.services.redis?.command);
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
  });

  it('creates the bucket the consumer writes to', () => {
    const bucket = compose.services.consumer?.environment?.DEBUG_ARCHIVE_BUCKET;
    expect(bucket).toBeTruthy();
    expect(words(compose.services['create-bucket']?.entrypoint)).toContain(
      `mc mb --ignore-existing local/${String(bucket)}`,
    );
  });

  it('points the consumer at both servers and starts the worker after them', () => {
    const consumer = compose.services.consumer;
    expect(words(consumer?.command)).toMatch(/worker$/);
    expect(consumer?.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(consumer?.environment?.S3_ENDPOINT).toBe('http://minio:9000');
    expect(consumer?.depends_on?.redis?.condition).toBe('service_healthy');
    expect(consumer?.depends_on?.['create-bucket']?.condition).toBe('service_completed_successfully');
  });
});
