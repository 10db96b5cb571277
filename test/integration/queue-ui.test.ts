import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { workerOpsRoutes } from '../../src/cli/worker-command.ts';
import type { ArchiveConsumer } from '../../src/consumer/archive-consumer.ts';
import { CpuProfiler } from '../../src/consumer/cpu-profiler.ts';
import { testLogger, useLeakGuard } from '../support/leak-guard.ts';
import { useTestServers, uniqueQueueName } from '../support/servers.ts';

/** Debian's chromium; never a browser downloaded by Playwright (the network is closed). */
const CHROMIUM = '/usr/bin/chromium';
const inCI = process.env.CI === 'true';
/** CI installs chromium (.ci/run); a developer without it skips the browser test. */
const skipWithoutChromium = !existsSync(CHROMIUM) && !inCI;

const JOBS = 3;
/** Far longer than the UI shows: the page gets it clipped, with its length. */
const LONG_TASK_ID = `long-${'x'.repeat(5_000)}`;

/** Headless Chromium in a new empty profile, with nothing that reaches for the network. */
async function launchChromium(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

describe('the queue UI (bull-board) on the consumer port', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  /** A consumer whose HTTP port has the routes the worker process mounts. */
  async function startConsumer(queueName: string, queueUi: boolean): Promise<ArchiveConsumer> {
    const profiler = new CpuProfiler({ directory: join(tmpdir(), 'debug-archiver-profiles-unused') });
    return guard.consumer({
      redisUrl: servers.redis.url,
      queueName,
      bucket: await servers.s3.createBucket(),
      s3Endpoint: servers.s3.endpoint,
      credentials: servers.s3.credentials,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      extendOpsServer: workerOpsRoutes({ queueUi, profileSeconds: 30 }, profiler, testLogger()),
    });
  }

  it.skipIf(skipWithoutChromium)(
    'shows the queue and its waiting jobs in headless Chromium, clipped and read-only',
    async () => {
      expect(existsSync(CHROMIUM), `${CHROMIUM} (Debian package chromium) must be installed in CI`).toBe(
        true,
      );
      const queueName = uniqueQueueName('queue-ui');
      const inspector = guard.inspector(servers.redis.url, queueName);
      const profile = await mkdtemp(join(tmpdir(), 'debug-archiver-chromium-'));
      let consumer: ArchiveConsumer | undefined;
      let browser: BrowserContext | undefined;
      try {
        // Paused, so the consumer leaves the jobs waiting for the page to show.
        await inspector.queue.pause();
        const producer = guard.producer({ redisUrl: servers.redis.url, queueName, enqueueTimeoutMs: 10_000 });
        try {
          for (let index = 0; index < JOBS; index += 1) {
            const taskId = index === 0 ? LONG_TASK_ID : `ui-task-${index}`;
            const result = await producer.enqueue({ index, body: 'recorded exchange' }, { taskId });
            expect(result.status).toBe('queued');
          }
        } finally {
          await producer.close();
        }
        // A job no producer of ours makes: many fields and megabytes of nested data.
        await inspector.queue.add('archive', {
          taskId: 'foreign-job',
          payload: { body: 'y'.repeat(2_000_000) },
          ...Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`extra${String(index)}`, index])),
        });
        const total = JOBS + 1;
        expect((await inspector.counts()).waiting).toBe(total);

        consumer = await startConsumer(queueName, true);
        const base = `http://127.0.0.1:${String(consumer.metricsPort)}/queues`;
        browser = await launchChromium(profile);
        const page = await browser.newPage();
        page.setDefaultTimeout(30_000);

        // The overview: the SPA renders the queue with its count once its first API call returns.
        await page.goto(base);
        await page.getByRole('link', { name: queueName }).first().waitFor();
        await page.getByRole('button', { name: `${String(total)} Jobs` }).waitFor();
        const waitingTab = page.locator('a[href$="status=waiting"]');
        expect((await waitingTab.innerText()).replace(/\s+/g, ' ').trim()).toBe(`WAITING ${String(total)}`);

        // The queue's page lists the jobs by task id, with their identity, never payload bytes.
        await page.goto(`${base}/queue/${encodeURIComponent(queueName)}`);
        await page.getByText('archive ui-task-1', { exact: true }).waitFor();
        await page.getByText('archive ui-task-2', { exact: true }).waitFor();
        await page.getByText('archive foreign-job', { exact: true }).waitFor();
        const text = await page.locator('main').innerText();
        expect(text).toContain(`(${String(LONG_TASK_ID.length)} characters)`);
        expect(text).not.toContain('x'.repeat(1_100));
        expect(text).not.toContain('recorded exchange');
        expect(text).toContain('(object hidden)');
        expect(text).toContain('22 more fields hidden');
        expect(text).not.toContain('y'.repeat(100));

        // Read-only: the queue cannot be resumed (or changed otherwise) through the UI's API.
        const resume = await fetch(`${base}/api/queues/${encodeURIComponent(queueName)}/resume`, {
          method: 'PUT',
        });
        expect(resume.status).toBe(405);
        await fetch(`${base}/api/queues/resume`, { method: 'PUT' });
        expect(await inspector.queue.isPaused()).toBe(true);
        expect((await inspector.counts()).waiting).toBe(total);
      } finally {
        await browser?.close();
        await rm(profile, { recursive: true, force: true });
        await consumer?.close();
        await inspector.close();
      }
    },
  );

  it('is not served unless enabled', async () => {
    const consumer = await startConsumer(uniqueQueueName('queue-ui-off'), false);
    try {
      const base = `http://127.0.0.1:${String(consumer.metricsPort)}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/queues`)).status).toBe(404);
      expect((await fetch(`${base}/queues/api/queues`)).status).toBe(404);
    } finally {
      await consumer.close();
    }
  });
});
