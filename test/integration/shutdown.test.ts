import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EnqueueResult } from '../../src/producer/producer.ts';
import { loadDebugPayload } from '../../src/pull.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { useLeakGuard, type LeakGuard } from '../support/leak-guard.ts';
import type { QueueInspector } from '../support/inspect.ts';
import { wordyText } from '../support/payloads.ts';
import { ProcessOutput, waitForExit } from '../support/processes.ts';
import { headObject, listPayloadKeys, objectExists, sha256 } from '../support/s3-objects.ts';
import {
  baseWorkerEnv,
  consumerTarget,
  uniqueQueueName,
  useTestServers,
  workerEnv,
} from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const WORKER = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));
const DRAIN_TIMEOUT_MS = 20_000;
const PAYLOADS = 16;

type Queued = Extract<EnqueueResult, { status: 'queued' }>;

function startWorker(
  guard: LeakGuard,
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; output: ProcessOutput } {
  const child = guard.spawn(process.execPath, [WORKER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, output: new ProcessOutput(child) };
}

/** pino lines the worker wrote on stderr. */
function logLines(output: ProcessOutput): Record<string, unknown>[] {
  return output.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('the worker process', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  async function stopWorker(child: ChildProcess, output: ProcessOutput, exitWithinMs: number): Promise<void> {
    child.kill('SIGTERM');
    const exit = await waitForExit(child, exitWithinMs, 'the worker after SIGTERM');
    expect(exit, `worker stderr:\n${output.stderr}`).toEqual({ code: 0, signal: null });
  }

  /** Archived in full, or still in Redis with its bytes and its job: never neither. */
  /**
   * Where a payload is: still admitted and waiting in Redis for an attempt (even if an aborted
   * one got its object into S3 before it could release it: the next attempt writes the same
   * key again), archived and released, or lost.
   */
  async function whereIs(inspector: QueueInspector, bucket: string, result: Queued, json: string) {
    const inRedis =
      (await inspector.isAdmitted(result.payloadId)) &&
      (await inspector.ledger.readPayload(result.payloadId)) === json &&
      ['waiting', 'delayed', 'active'].includes(await inspector.queue.getJobState(result.payloadId));
    if (inRedis) return 'in-redis';
    if (await objectExists(servers.s3.client, bucket, result.key)) {
      const head = await headObject(servers.s3.client, bucket, result.key);
      if (head.Metadata?.['json-sha256'] === sha256(json)) return 'archived';
    }
    return 'lost';
  }

  function drainingWorkerEnv(queueName: string, bucket: string, drainTimeoutMs: number): NodeJS.ProcessEnv {
    return workerEnv(consumerTarget(servers, queueName, bucket), {
      DEBUG_ARCHIVE_CONCURRENCY: '2',
      DEBUG_ARCHIVE_DRAIN_TIMEOUT_MS: String(drainTimeoutMs),
    });
  }

  /** Admits PAYLOADS payloads of about 3 MB each with no consumer running. */
  async function enqueueBacklog(queueName: string): Promise<{ results: Queued[]; jsons: string[] }> {
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, enqueueTimeoutMs: 10_000 });
    try {
      const text = wordyText(3 * 1000 * 1000, 21);
      const jsons: string[] = [];
      const results: Queued[] = [];
      for (let index = 0; index < PAYLOADS; index += 1) {
        const payload = { index, body: `${index} ${text}` };
        const result = await producer.enqueue(payload, { taskId: `shutdown-${index}` });
        if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
        results.push(result);
        jsons.push(JSON.stringify(payload));
      }
      return { results, jsons };
    } finally {
      await producer.close();
    }
  }

  /** Starts a worker and sends it SIGTERM as soon as a job is active; returns its output. */
  async function interruptWorker(
    env: NodeJS.ProcessEnv,
    inspector: QueueInspector,
    exitWithinMs: number,
  ): Promise<ProcessOutput> {
    const worker = startWorker(guard, env);
    await waitFor(async () => ((await inspector.counts()).active ?? 0) > 0 || undefined, {
      what: 'an upload to be under way',
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    await stopWorker(worker.child, worker.output, exitWithinMs);
    return worker.output;
  }

  /** Where each payload is now; fails if any is neither archived nor waiting in Redis. */
  async function checkNothingLost(
    inspector: QueueInspector,
    bucket: string,
    backlog: { results: Queued[]; jsons: string[] },
  ): Promise<string[]> {
    const places = await Promise.all(
      backlog.results.map((result, index) => whereIs(inspector, bucket, result, backlog.jsons[index] ?? '')),
    );
    expect(places.filter((place) => place === 'lost')).toEqual([]);
    expect(await inspector.usage()).toEqual({
      payloads: places.filter((place) => place !== 'archived').length,
      bytes: backlog.jsons.reduce(
        (total, json, index) => total + (places[index] === 'archived' ? 0 : Buffer.byteLength(json)),
        0,
      ),
    });
    return places;
  }

  /** Runs a fresh worker until everything is archived, then checks every object. */
  async function archiveTheRest(
    env: NodeJS.ProcessEnv,
    inspector: QueueInspector,
    bucket: string,
    backlog: { results: Queued[]; jsons: string[] },
    timeoutMs: number,
  ): Promise<void> {
    const worker = startWorker(guard, env);
    try {
      await inspector.waitForArchived(
        backlog.results.map((result) => result.payloadId),
        timeoutMs,
      );
    } finally {
      await stopWorker(worker.child, worker.output, DRAIN_TIMEOUT_MS);
    }
    expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual(
      backlog.results.map((result) => result.key).sort(),
    );
    for (const [index, result] of backlog.results.entries()) {
      const loaded = await loadDebugPayload({ s3: servers.s3.client, bucket, key: result.key });
      expect(JSON.stringify(loaded.payload) === backlog.jsons[index], `payload ${index} round-trips`).toBe(
        true,
      );
    }
    expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
  }

  it('drains uploads under way on SIGTERM, exits 0 and loses nothing; a new worker archives the rest', async () => {
    const queueName = uniqueQueueName('shutdown');
    const bucket = await servers.s3.createBucket();
    const env = drainingWorkerEnv(queueName, bucket, DRAIN_TIMEOUT_MS);
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const backlog = await enqueueBacklog(queueName);
      const output = await interruptWorker(env, inspector, DRAIN_TIMEOUT_MS);
      const finalLog = logLines(output).find((line) => typeof line.drained === 'boolean');
      expect(finalLog?.drained, `worker stderr:\n${output.stderr}`).toBe(true);

      const places = await checkNothingLost(inspector, bucket, backlog);
      // The uploads under way finished; no job was left active.
      expect(places).toContain('archived');
      expect((await inspector.counts()).active ?? 0).toBe(0);
      // It stopped taking jobs: the rest of the backlog is still waiting.
      expect(places).toContain('in-redis');

      await archiveTheRest(env, inspector, bucket, backlog, 40_000);
    } finally {
      await inspector.close();
    }
  }, 90_000);

  it('aborts uploads past the drain deadline, exits 0 and loses nothing; they are archived after a restart', async () => {
    const queueName = uniqueQueueName('shutdown-abort');
    const bucket = await servers.s3.createBucket();
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const backlog = await enqueueBacklog(queueName);
      // A deadline of 0: whatever is under way at SIGTERM is aborted.
      const output = await interruptWorker(drainingWorkerEnv(queueName, bucket, 0), inspector, 10_000);
      const finalLog = logLines(output).find((line) => typeof line.drained === 'boolean');
      expect(finalLog?.drained, `worker stderr:\n${output.stderr}`).toBe(false);

      const places = await checkNothingLost(inspector, bucket, backlog);
      expect(places).toContain('in-redis');

      // Jobs left active come back once their lock (30 s) expires and a worker finds them stalled.
      await archiveTheRest(
        drainingWorkerEnv(queueName, bucket, DRAIN_TIMEOUT_MS),
        inspector,
        bucket,
        backlog,
        75_000,
      );
    } finally {
      await inspector.close();
    }
  }, 120_000);

  // The object's PUT and parts are lib-storage's, which takes no signal; the index's is the
  // consumer's own. A multipart upload cut short is aborted, its parts deleted.
  it.each([
    { held: 'the object', path: /\.json\.gz\.b64(\?|$)/, objectStored: false, multipart: false },
    { held: 'the task index entry', path: /\/by-task\//, objectStored: true, multipart: false },
    { held: "a multipart upload's second part", path: /partNumber=2/, objectStored: false, multipart: true },
  ])(
    'aborts the PUT of $held that S3 never answers at the drain deadline, exits 0; the payload stays in Redis',
    async ({ path, objectStored, multipart }) => {
      const queueName = uniqueQueueName('shutdown-held');
      const bucket = await servers.s3.createBucket();
      const proxy = await startFaultProxy(servers.s3.endpoint);
      proxy.setMode({ kind: 'hold', path });
      const inspector = guard.inspector(servers.redis.url, queueName);
      const producer = guard.producer({ redisUrl: servers.redis.url, queueName });
      try {
        // Incompressible 6 MB: about 6 MiB once encoded, two parts of 5 MiB.
        const payload = {
          body: multipart ? randomBytes(4_500_000).toString('base64') : wordyText(20_000, 5),
        };
        const result = await producer.enqueue(payload, { taskId: 'held' });
        if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
        const worker = startWorker(
          guard,
          workerEnv(
            { ...consumerTarget(servers, queueName, bucket), s3Endpoint: proxy.endpoint },
            { DEBUG_ARCHIVE_DRAIN_TIMEOUT_MS: '500', DEBUG_ARCHIVE_PART_SIZE_BYTES: String(5 * 1024 * 1024) },
          ),
        );
        await waitFor(() => proxy.counts().held > 0 || undefined, {
          what: 'a PUT to be held',
          timeoutMs: 20_000,
        });
        // Well within the client's socket timeout (30 s): the abort ends the request, not S3, and
        // an aborted request is not retried on a new socket.
        await stopWorker(worker.child, worker.output, 10_000);
        const finalLog = logLines(worker.output).find((line) => typeof line.drained === 'boolean');
        expect(finalLog?.drained, `worker stderr:\n${worker.output.stderr}`).toBe(false);
        const counts = proxy.counts();
        expect(counts.held).toBe(1);
        expect(counts.multipartCreated).toBe(multipart ? 1 : 0);
        // s3rver refuses AbortMultipartUpload (MethodNotAllowed): that it was asked is what is seen.
        expect(counts.multipartAbortsAsked > 0).toBe(multipart);
        expect(await objectExists(servers.s3.client, bucket, result.key)).toBe(objectStored);
        // Never released without its index entry: it waits in Redis for an attempt that writes both.
        expect(await whereIs(inspector, bucket, result, JSON.stringify(payload))).toBe('in-redis');
      } finally {
        await producer.close();
        await inspector.close();
        await proxy.close();
      }
    },
    60_000,
  );

  it('refuses bad configuration with one message naming every bad variable and no stack', async () => {
    const { child, output } = startWorker(guard, {
      ...baseWorkerEnv(),
      REDIS_URL: servers.redis.url,
      DEBUG_ARCHIVE_MAX_SOCKETS: 'abc',
      DEBUG_ARCHIVE_GZIP_LEVEL: '42',
    });
    const exit = await waitForExit(child, 20_000, 'the misconfigured worker');
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    const stderr = output.stderr;
    expect(stderr).toContain('DEBUG_ARCHIVE_MAX_SOCKETS');
    expect(stderr).toContain('DEBUG_ARCHIVE_GZIP_LEVEL');
    expect(stderr).toContain('DEBUG_ARCHIVE_BUCKET');
    // One message: one prefixed line (its problems listed under it), no logs, no stack frames.
    expect(stderr.match(/^debug-archiver: /gm)).toHaveLength(1);
    expect(stderr.startsWith('debug-archiver: ')).toBe(true);
    expect(stderr).not.toMatch(/^\s+at\s/m);
    expect(stderr).not.toMatch(/^\{/m);
    expect(output.stdout).toBe('');
  });
});
