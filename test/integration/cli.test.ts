import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePayload } from '../../src/encoding/encode-payload.ts';
import { buildObjectKey } from '../../src/object-key.ts';
import { toS3Metadata } from '../../src/storage/object-metadata.ts';
import { storeObject } from '../../src/storage/store-object.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { wordyText } from '../support/payloads.ts';
import { runCli } from '../support/run-cli.ts';
import {
  startTestRedis,
  startTestS3,
  uniqueQueueName,
  type TestRedis,
  type TestS3,
} from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const guard = useLeakGuard();
let redis: TestRedis;
let s3: TestS3;
let bucket: string;
let env: NodeJS.ProcessEnv;
let work: string;
const queueName = uniqueQueueName('cli');

interface Archived {
  key: string;
  payload: unknown;
  taskId: string;
  integration?: string;
}
const archived: Archived[] = [];

function exchanges(task: string, count: number) {
  return {
    task,
    exchanges: Array.from({ length: count }, (_, i) => ({
      request: { method: 'GET', url: `https://bank.example/accounts/${i}?page=${i}` },
      response: { status: 200, body: `<html><body>${wordyText(2_000, i)}</body></html>` },
    })),
  };
}

beforeAll(async () => {
  [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
  bucket = await s3.createBucket();
  work = await mkdtemp(join(tmpdir(), 'debug-archiver-cli-'));
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DEBUG_ARCHIVE_BUCKET: bucket,
    S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  const producer = guard.producer({ redisUrl: redis.url, queueName });
  const consumer = await guard.consumer({
    redisUrl: redis.url,
    queueName,
    bucket,
    s3Endpoint: s3.endpoint,
    credentials: s3.credentials,
  });
  const jobs: [string, string | undefined, unknown][] = [
    ['task-a', 'acme-bank', exchanges('task-a first', 3)],
    ['task-a', 'acme-bank', exchanges('task-a second', 40)],
    ['task-b', 'globex-credit', exchanges('task-b', 5)],
    ['odd/../task é', undefined, [1, 2, 3]],
  ];
  for (const [taskId, integration, payload] of jobs) {
    const result = await producer.enqueue(
      payload,
      integration === undefined ? { taskId } : { taskId, integration },
    );
    if (result.status !== 'queued') throw new Error(`setup enqueue dropped: ${result.reason}`);
    archived.push({
      key: result.key,
      payload,
      taskId,
      ...(integration === undefined ? {} : { integration }),
    });
    // Distinct milliseconds, so "newest" is well defined.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await waitFor(async () => ((await consumer.usage()).payloads === 0 ? true : undefined), {
    what: 'the consumer to archive the setup payloads',
    timeoutMs: 30_000,
  });
  await consumer.close();
  await producer.close();
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
  await Promise.all([redis.destroy(), s3.destroy()]);
});

const byTask = (taskId: string) => archived.filter((entry) => entry.taskId === taskId);

describe('debug-archiver list', () => {
  it('prints a table of the recent payloads', async () => {
    const run = await runCli(['list'], env);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^enqueued \(UTC\)\s+integration\s+task\s+stored\s+key$/);
    expect(lines).toHaveLength(archived.length + 1);
    for (const entry of archived) expect(run.stdout).toContain(entry.key);
  });

  it('lists a task through its index, newest first, one key per line', async () => {
    const run = await runCli(['list', '--task', 'task-a', '--keys'], env);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(
      byTask('task-a')
        .map((entry) => entry.key)
        .reverse(),
    );
  });

  it('finds a task whose id needs escaping', async () => {
    const run = await runCli(['list', '--task', 'odd/../task é', '--json'], env);
    expect(run.code).toBe(0);
    const listed = JSON.parse(run.stdout) as { key: string; taskId: string; integration?: string }[];
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ key: byTask('odd/../task é')[0]?.key, taskId: 'odd/../task é' });
    expect(listed[0]?.integration).toBeUndefined();
  });

  it('filters by integration and time window', async () => {
    const acme = await runCli(['list', '--integration', 'acme-bank', '--since', '1h', '--keys'], env);
    expect(acme.stdout.trim().split('\n').sort()).toEqual(
      byTask('task-a')
        .map((entry) => entry.key)
        .sort(),
    );
    const future = await runCli(['list', '--since', '2099-01-01T00:00:00Z', '--keys'], env);
    expect(future.code).toBe(0);
    expect(future.stdout).toBe('');
    const limited = await runCli(['list', '--limit', '2', '--keys'], env);
    expect(limited.stdout.trim().split('\n')).toHaveLength(2);
  });

  it('rejects a bad time with one line', async () => {
    const run = await runCli(['list', '--since', 'yesterday-ish'], env);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('--since "yesterday-ish"');
  });
});

describe('debug-archiver pull', () => {
  it('writes the decoded JSON of a key to a file', async () => {
    const [entry] = archived;
    const file = join(work, 'by-key.json');
    const run = await runCli(['pull', entry?.key ?? '', '-o', file], env);
    expect(run.code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe(JSON.stringify(entry?.payload));
  });

  it('streams the newest payload of a task to stdout, and indents with --pretty', async () => {
    const newest = byTask('task-a').at(-1);
    const plain = await runCli(['pull', '--task', 'task-a'], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(JSON.stringify(newest?.payload));
    const pretty = await runCli(['pull', '--task', 'task-a', '--latest', '--pretty'], env);
    expect(pretty.stdout).toBe(`${JSON.stringify(newest?.payload, null, 2)}\n`);
  });

  it('writes every payload of a task into a folder with --all', async () => {
    const folder = join(work, 'all');
    const run = await runCli(['pull', '--task', 'task-a', '--all', '-o', folder], env);
    expect(run.code).toBe(0);
    const files = (await readdir(folder)).sort();
    expect(files).toHaveLength(2);
    const contents = await Promise.all(files.map((file) => readFile(join(folder, file), 'utf8')));
    expect(contents.sort()).toEqual(
      byTask('task-a')
        .map((entry) => JSON.stringify(entry.payload))
        .sort(),
    );
  });
});

describe('debug-archiver show and replay', () => {
  it('shows metadata and sizes without the body', async () => {
    const entry = byTask('task-b')[0];
    const run = await runCli(['show', entry?.key ?? '', '--json'], env);
    expect(run.code).toBe(0);
    const shown = JSON.parse(run.stdout) as Record<string, unknown>;
    const json = JSON.stringify(entry?.payload);
    expect(shown).toMatchObject({
      key: entry?.key,
      taskId: 'task-b',
      integration: 'globex-credit',
      jsonBytes: Buffer.byteLength(json),
      jsonSha256: createHash('sha256').update(json).digest('hex'),
      encoding: 'json,gzip,base64',
    });
    expect(shown.storedBytes).toBe(shown.base64Bytes);
    const table = await runCli(['show', '--task', 'task-b'], env);
    expect(table.stdout).toMatch(/compression\s+\d+\.\d\dx/);
  });

  it('hands the payload and its metadata to the handler module', async () => {
    const handler = new URL('../../examples/replay-handler.js', import.meta.url).pathname;
    const run = await runCli(['replay', '--task', 'task-b', '--handler', handler], env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      key: byTask('task-b')[0]?.key,
      task: 'task-b',
      integration: 'globex-credit',
      exchanges: 5,
    });
  });

  it('fails the replay when the handler throws', async () => {
    const handler = join(work, 'throwing-handler.mjs');
    await writeFile(handler, "export default () => { throw new Error('replay found the bug'); };\n");
    const run = await runCli(['replay', '--task', 'task-b', '--handler', handler], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('replay found the bug');
  });
});

describe('errors a person understands', () => {
  const oneLine = (stderr: string): void => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(stderr).not.toMatch(/^\s+at /m);
  };

  it('a missing key', async () => {
    const key = 'debug-payloads/2026-01-01/_/nobody/01a2085e-f185-757d-a5ec-a0b6477b916c.json.gz.b64';
    const run = await runCli(['pull', key], env);
    expect(run.code).toBe(1);
    oneLine(run.stderr);
    expect(run.stderr).toContain(`no archived payload at s3://${bucket}/${key}`);
  });

  it('a task with no payloads', async () => {
    const run = await runCli(['pull', '--task', 'never-ran'], env);
    expect(run.code).toBe(1);
    oneLine(run.stderr);
    expect(run.stderr).toContain('no archived payload for task "never-ran"');
  });

  it('a missing bucket', async () => {
    const run = await runCli(['list', '--bucket', 'no-such-bucket-here'], env);
    expect(run.code).toBe(1);
    oneLine(run.stderr);
    expect(run.stderr).toContain('bucket no-such-bucket-here does not exist');
  });

  it('bad credentials', async () => {
    const run = await runCli(['list'], {
      ...env,
      AWS_ACCESS_KEY_ID: 'NOBODY',
      AWS_SECRET_ACCESS_KEY: 'wrong-secret',
    });
    expect(run.code).toBe(1);
    oneLine(run.stderr);
    expect(run.stderr).toMatch(/S3 refused the credentials|access to bucket .* was denied/);
  });

  it('a corrupted object, and --verbose adds the stack', async () => {
    const entry = archived[0];
    const head = await runCli(['show', entry?.key ?? '', '--json'], env);
    const metadata = JSON.parse(head.stdout) as Record<string, string | number>;
    const key = buildObjectKey({
      keyPrefix: 'debug-payloads',
      enqueuedAt: new Date(),
      integration: 'acme-bank',
      taskId: 'corrupt',
      payloadId: '01a2085e-f185-757d-a5ec-a0b6477b9999',
    });
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: Buffer.from('H4sIAAAAAAAAA+3BAQ0AAADCoPdPbQ43oAAAAAAAAAAAAIA3AwAA//8=', 'latin1'),
        Metadata: { 'json-sha256': String(metadata.jsonSha256), encoding: 'json,gzip,base64' },
      }),
    );
    const file = join(work, 'corrupt.json');
    const run = await runCli(['pull', key, '-o', file], env);
    expect(run.code).toBe(1);
    oneLine(run.stderr);
    expect(run.stderr).toMatch(/is corrupt/);
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    const verbose = await runCli(['--verbose', 'pull', key], env);
    expect(verbose.stderr).toMatch(/^\s+at /m);
  });
});

describe('a large payload', () => {
  /** Archives `megabytes` of JSON through the consumer's own encode and store code. */
  async function archiveLarge(megabytes: number, payloadId: string) {
    const value = { chunks: Array.from({ length: megabytes * 2 }, (_, i) => wordyText(500_000, i)) };
    const key = buildObjectKey({
      keyPrefix: 'debug-payloads',
      enqueuedAt: new Date(),
      integration: 'big',
      taskId: `big-${megabytes}`,
      payloadId,
    });
    const identity = {
      payloadId,
      taskId: `big-${megabytes}`,
      integration: 'big',
      enqueuedAt: new Date().toISOString(),
    };
    const stats = await encodePayload(
      value,
      async (body, layerStats) => {
        await storeObject({
          s3: s3.client,
          bucket,
          key,
          body,
          initialMetadata: toS3Metadata(identity),
          finalMetadata: () => toS3Metadata({ ...identity, ...layerStats() }),
          partSizeBytes: 16 * 1024 * 1024,
          queueSize: 2,
          protection: { serverSideEncryption: 'AES256' },
        });
        return layerStats();
      },
      { gzipLevel: 1 },
    );
    expect(stats.jsonBytes).toBeGreaterThan(megabytes * 1_000_000);
    return { key, stats };
  }

  /** Pulls with the real CLI and returns its peak RSS in MiB. */
  async function pullMeasured(key: string, output: string): Promise<number> {
    const rssFile = join(work, 'max-rss');
    const preload = new URL('../support/report-max-rss.ts', import.meta.url).pathname;
    const run = await runCli(
      ['pull', key, '-o', output],
      { ...env, MAX_RSS_FILE: rssFile },
      {
        nodeArgs: ['--import', preload],
        timeoutMs: 120_000,
      },
    );
    expect(run.code).toBe(0);
    return Number(await readFile(rssFile, 'utf8')) / 1024;
  }

  it('pulls 200 MB of JSON in the same memory as 50 MB', async () => {
    const medium = await archiveLarge(50, '01a2085e-f185-757d-a5ec-a0b6477b7777');
    const large = await archiveLarge(200, '01a2085e-f185-757d-a5ec-a0b6477b8888');
    const mediumRssMiB = await pullMeasured(medium.key, join(work, 'medium.json'));
    await rm(join(work, 'medium.json'));
    const file = join(work, 'big.json');
    const largeRssMiB = await pullMeasured(large.key, file);
    const digest = createHash('sha256');
    for await (const chunk of (await import('node:fs')).createReadStream(file))
      digest.update(chunk as Buffer);
    expect(digest.digest('hex')).toBe(large.stats.jsonSha256);
    // Measured here: about 220 MiB for 50 MB and for 200 MB alike (Node, the SDK and V8's young
    // generation). Memory growing with the payload would show 150 MiB more for the larger one.
    expect(largeRssMiB - mediumRssMiB).toBeLessThan(32);
    await rm(file);
  }, 240_000);
});
