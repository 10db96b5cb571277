import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/free-port.ts';
import { startLocalRedis, type LocalRedis } from '../../src/local/redis-server.ts';
import { createConsumerRedis, createProducerRedis } from '../../src/redis-client.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { ProcessOutput, waitForExit } from '../support/processes.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { startTestS3, uniqueQueueName, type TestS3 } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const PASSWORD = 'pw-never-in-logs-7f3a';
const guard = useLeakGuard();
let dir: string;
let ca: string;
let redis: LocalRedis;
let s3: TestS3;

/** A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI. */
async function makeCertificates(
  folder: string,
): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  const at = (name: string) => join(folder, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=debug-archiver test CA',
  ]);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    at('server.key'),
    '-out',
    at('server.csr'),
    '-subj',
    '/CN=127.0.0.1',
  ]);
  await writeFile(at('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    at('server.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-out',
    at('server.pem'),
    '-days',
    '1',
    '-extfile',
    at('san.ext'),
  ]);
  return { certFile: at('server.pem'), keyFile: at('server.key'), caFile: at('ca.pem') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'debug-archiver-tls-'));
  const tls = await makeCertificates(dir);
  ca = await readFile(tls.caFile, 'utf8');
  [redis, s3] = await Promise.all([startLocalRedis({ password: PASSWORD, tls }), startTestS3()]);
});
afterAll(async () => {
  await Promise.all([redis.destroy(), s3.destroy()]);
  await rm(dir, { recursive: true, force: true });
});

function capturedLogger() {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => text };
}

describe('Redis over TLS with AUTH', () => {
  it('queues and archives through rediss:// with a password, from code', async () => {
    const tlsUrl = redis.tlsUrl ?? '';
    const queueName = uniqueQueueName('tls');
    const bucket = await s3.createBucket();
    const producerRedis = createProducerRedis(tlsUrl, 2_000, { tls: { ca } });
    const consumerRedis = createConsumerRedis(tlsUrl, { tls: { ca } });
    const producer = guard.producer({ redis: producerRedis, queueName });
    const consumer = await guard.consumer({
      redis: consumerRedis,
      queueName,
      bucket,
      s3Endpoint: s3.endpoint,
      credentials: s3.credentials,
    });
    try {
      const result = await producer.enqueue({ over: 'tls' }, { taskId: 'tls-task' });
      expect(result.status).toBe('queued');
      await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
        what: 'archiving over TLS',
        timeoutMs: 20_000,
      });
      expect(await listPayloadKeys(s3.client, bucket)).toHaveLength(1);
    } finally {
      await consumer.close();
      await producer.close();
      producerRedis.disconnect();
      consumerRedis.disconnect();
    }
  });

  it('runs the worker process from the environment alone (REDIS_URL=rediss://, NODE_EXTRA_CA_CERTS)', async () => {
    const queueName = uniqueQueueName('tls-env');
    const bucket = await s3.createBucket();
    const worker = guard.spawn(
      process.execPath,
      [fileURLToPath(new URL('../../worker/main.ts', import.meta.url))],
      {
        env: {
          PATH: process.env.PATH,
          NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
          REDIS_URL: redis.tlsUrl,
          DEBUG_ARCHIVE_QUEUE: queueName,
          DEBUG_ARCHIVE_BUCKET: bucket,
          S3_ENDPOINT: s3.endpoint,
          AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
          AWS_REGION: 'us-east-1',
          METRICS_PORT: String(await freePort()),
          LOG_LEVEL: 'debug',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const output = new ProcessOutput(worker);
    const producerRedis = createProducerRedis(redis.tlsUrl ?? '', 2_000, { tls: { ca } });
    const producer = guard.producer({ redis: producerRedis, queueName });
    try {
      expect((await producer.enqueue({ from: 'env' }, { taskId: 'env-task' })).status).toBe('queued');
      await waitFor(
        async () => ((await listPayloadKeys(s3.client, bucket)).length === 1 ? true : undefined),
        {
          what: 'the worker to archive over TLS',
          timeoutMs: 20_000,
        },
      );
      worker.kill('SIGTERM');
      expect(await waitForExit(worker, 20_000)).toEqual({ code: 0, signal: null });
      expect(output.stderr + output.stdout).not.toContain(PASSWORD);
    } finally {
      await producer.close();
      producerRedis.disconnect();
    }
  });

  it('drops quickly with a wrong password and never logs a password', async () => {
    const wrong = 'wrong-pass-also-secret';
    const url = (redis.tlsUrl ?? '').replace(encodeURIComponent(PASSWORD), wrong);
    const { logger, text } = capturedLogger();
    const producerRedis = createProducerRedis(url, 1_000, { tls: { ca } });
    producerRedis.on('error', () => undefined);
    const producer = guard.producer({
      redis: producerRedis,
      queueName: uniqueQueueName('wrong-pass'),
      logger,
    });
    try {
      const started = performance.now();
      const result = await producer.enqueue({ a: 1 }, { taskId: 't' });
      expect(result).toEqual({ status: 'dropped', reason: 'redis_unavailable' });
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(text()).toContain('redis_unavailable');
      expect(text()).not.toContain(wrong);
      expect(text()).not.toContain(PASSWORD);
    } finally {
      await producer.close();
      producerRedis.disconnect();
    }
  });
});
