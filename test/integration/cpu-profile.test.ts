import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { workerOpsRoutes } from '../../src/cli/worker-command.ts';
import { CpuProfiler } from '../../src/consumer/cpu-profiler.ts';
import { freePort } from '../../src/local/free-port.ts';
import { testLogger, useLeakGuard } from '../support/leak-guard.ts';
import { ProcessOutput, waitForExit } from '../support/processes.ts';
import { consumerTarget, uniqueQueueName, useTestServers, workerEnv } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** What a `.cpuprofile` file must hold for DevTools, speedscope and VS Code to open it. */
async function expectCpuProfile(path: string): Promise<void> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  expect(Array.isArray(profile.nodes) && profile.nodes.length > 0, 'nodes is a non-empty array').toBe(true);
  expect(typeof profile.startTime).toBe('number');
  expect(typeof profile.endTime).toBe('number');
  expect(profile.endTime as number).toBeGreaterThan(profile.startTime as number);
}

describe('on-demand CPU profiles', () => {
  const servers = useTestServers();
  let directory: string;
  const guard = useLeakGuard();

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'debug-archiver-profiles-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('POST /debug/cpu-profile records for N seconds, answers with the file, 409 while busy, 400 for a bad N', async () => {
    const profiler = new CpuProfiler({ directory });
    const consumer = await guard.consumer({
      redisUrl: servers.redis.url,
      queueName: uniqueQueueName('profile'),
      bucket: await servers.s3.createBucket(),
      s3Endpoint: servers.s3.endpoint,
      credentials: servers.s3.credentials,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      extendOpsServer: workerOpsRoutes({ queueUi: false, profileSeconds: 30 }, profiler, testLogger()),
    });
    try {
      const url = `http://127.0.0.1:${String(consumer.metricsPort)}/debug/cpu-profile`;
      for (const seconds of ['0', '1000', '301', '-1', '1.5', 'abc', '']) {
        const response = await fetch(`${url}?seconds=${seconds}`, { method: 'POST' });
        expect(response.status, `seconds=${seconds}`).toBe(400);
        expect(await response.json()).toEqual({ error: 'seconds must be a whole number from 1 to 300' });
      }
      expect(profiler.recording, 'a rejected request starts nothing').toBe(false);

      const started = performance.now();
      const first = fetch(`${url}?seconds=1`, { method: 'POST' });
      await waitFor(() => profiler.recording || undefined, {
        what: 'the first profile to start',
        timeoutMs: 5_000,
        intervalMs: 5,
      });
      const second = await fetch(`${url}?seconds=1`, { method: 'POST' });
      expect(second.status).toBe(409);
      expect(await second.json()).toEqual({ error: 'a CPU profile is already being recorded' });

      const response = await first;
      const elapsedMs = performance.now() - started;
      expect(response.status).toBe(200);
      const body = (await response.json()) as { path: string; seconds: number };
      expect(body.seconds).toBe(1);
      expect(body.path.startsWith(`${directory}/`)).toBe(true);
      expect(body.path.endsWith('.cpuprofile')).toBe(true);
      expect(elapsedMs).toBeGreaterThanOrEqual(1_000);
      await expectCpuProfile(body.path);
      expect(await readdir(directory)).toEqual([body.path.slice(directory.length + 1)]);

      // Free again once the file is written.
      expect(profiler.recording).toBe(false);
      const again = await fetch(`${url}?seconds=1`, { method: 'POST' });
      expect(again.status).toBe(200);
      await expectCpuProfile(((await again.json()) as { path: string }).path);
    } finally {
      await profiler.close();
      await consumer.close();
    }
  });

  it('close cuts a long profile short, still writes it, and refuses new ones', async () => {
    const profiler = new CpuProfiler({ directory: join(directory, 'made-on-demand') });
    const recording = profiler.record(300);
    await waitFor(() => profiler.recording || undefined, { what: 'the profile to start', timeoutMs: 5_000 });
    const started = performance.now();
    const closed = await profiler.close();
    expect(performance.now() - started).toBeLessThan(5_000);
    const path = await recording;
    expect(closed).toBe(path);
    await expectCpuProfile(path);
    await expect(profiler.record(1)).rejects.toThrow('shutting down');
  });

  it('the worker process records a profile on SIGUSR2, and a SIGTERM cuts a long one short and exits 0', async () => {
    const port = await freePort();
    const child = guard.spawn(process.execPath, [MAIN, 'worker'], {
      env: workerEnv(
        consumerTarget(servers, uniqueQueueName('profile-worker'), await servers.s3.createBucket()),
        {
          METRICS_PORT: String(port),
          METRICS_HOST: '127.0.0.1',
          DEBUG_ARCHIVE_PROFILE_SECONDS: '1',
          DEBUG_ARCHIVE_PROFILE_DIR: directory,
        },
      ),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new ProcessOutput(child);
    const base = `http://127.0.0.1:${String(port)}`;
    // The SIGUSR2 handler is in place before the HTTP port opens: a signal earlier would kill it.
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the worker exited early:\n${output.stderr}`);
        const response = await fetch(`${base}/healthz`).catch(() => undefined);
        return response?.ok === true ? true : undefined;
      },
      { what: 'the worker to serve /healthz', timeoutMs: 20_000, intervalMs: 50 },
    );
    // Off unless DEBUG_ARCHIVE_QUEUE_UI=true.
    expect((await fetch(`${base}/queues`)).status).toBe(404);

    child.kill('SIGUSR2');
    const file = await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the worker exited on SIGUSR2:\n${output.stderr}`);
        const files = await readdir(directory);
        return files.find((name) => name.endsWith('.cpuprofile'));
      },
      { what: 'a .cpuprofile file after SIGUSR2', timeoutMs: 15_000, intervalMs: 50 },
    );
    await expectCpuProfile(join(directory, file));

    // A SIGTERM during a long profile cuts it short: the file is written, the request answered,
    // and the worker exits without waiting out the 300 s.
    const long = fetch(`${base}/debug/cpu-profile?seconds=300`, { method: 'POST' });
    await waitFor(
      async () =>
        (await fetch(`${base}/debug/cpu-profile?seconds=1`, { method: 'POST' })).status === 409
          ? true
          : undefined,
      { what: 'the long profile to be under way', timeoutMs: 5_000, intervalMs: 20 },
    );
    const signalled = performance.now();
    child.kill('SIGTERM');
    const answer = await long;
    expect(answer.status).toBe(200);
    const { path } = (await answer.json()) as { path: string };
    await expectCpuProfile(path);
    const exit = await waitForExit(child, 30_000, 'the worker after SIGTERM');
    expect(exit, `worker stderr:\n${output.stderr}`).toEqual({ code: 0, signal: null });
    expect(performance.now() - signalled).toBeLessThan(15_000);
    expect((await readdir(directory)).sort()).toEqual([file, path.slice(directory.length + 1)].sort());
  });
});
