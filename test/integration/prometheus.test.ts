import { accessSync, constants } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { ArchiveConsumer } from '../../src/consumer/archive-consumer.ts';
import { freePort } from '../../src/local/free-port.ts';
import type { EnqueueResult } from '../../src/producer/producer.ts';
import { createProducerRedis } from '../../src/redis-client.ts';
import { useLeakGuard, type LeakGuard } from '../support/leak-guard.ts';
import { wordyText } from '../support/payloads.ts';
import { consumerTarget, startTestS3, uniqueQueueName, useTestServers } from '../support/servers.ts';
import { waitFor } from '../support/wait.ts';

/** Payloads archived, and dropped because the queue is full, in each scenario. */
const ARCHIVED = 3;
const DROPPED_FULL = 2;

function onPath(binary: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((directory) => {
    try {
      accessSync(join(directory, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Where the binary is missing the test is skipped, except in CI: there it must run (and fails). */
const inCI = process.env.CI === 'true';
const skipWithout = (binary: string): boolean => !onPath(binary) && !inCI;

/** Runs a command to completion through the guard: its exit code and everything it printed. */
async function run(
  guard: LeakGuard,
  command: string,
  args: readonly string[],
  input = '',
): Promise<{ code: number | null; output: string }> {
  const child = guard.spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: string): void => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  child.stdin?.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

interface QueryData {
  result: { metric: Record<string, string>; value: [number, string] }[];
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  data?: QueryData;
}

interface DashboardPanel {
  title: string;
  targets?: { expr: string }[];
  panels?: DashboardPanel[];
}

/** Every PromQL expression of the shipped dashboard, with Grafana's interval variables filled in. */
async function dashboardQueries(): Promise<{ panel: string; expr: string }[]> {
  const dashboard = JSON.parse(
    await readFile(new URL('../../grafana/dashboards/debug-archiver.json', import.meta.url), 'utf8'),
  ) as { panels: DashboardPanel[] };
  const all = (panels: DashboardPanel[]): DashboardPanel[] =>
    panels.flatMap((panel) => [panel, ...all(panel.panels ?? [])]);
  return all(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: target.expr
        .replaceAll('$__rate_interval', '5s')
        .replaceAll('$__interval', '1s')
        .replaceAll('$__range', '1m'),
    })),
  );
}

async function counterValue(registry: Registry, name: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  return metric === undefined ? undefined : (await metric.get()).values[0]?.value;
}

const outcome = (result: EnqueueResult): string => (result.status === 'queued' ? 'queued' : result.reason);

interface Archiving {
  /** The producer's own registry, as a host application would pass it. */
  producerRegistry: Registry;
  consumer: ArchiveConsumer;
  /** http://127.0.0.1:<the consumer's metrics port> */
  opsUrl: string;
  close(): Promise<void>;
}

describe('metrics scraped by Prometheus, health and readiness', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  /**
   * A producer with its own registry fills a queue bounded to ARCHIVED payloads, has
   * DROPPED_FULL more dropped as queue_full and one as not_serializable; then a consumer with a
   * metrics port archives the queued ones. The payloads (4 MB of JSON each) are large enough for
   * archiving them to run the garbage collector, so the GC metrics have series too.
   */
  async function archiveAndDrop(label: string): Promise<Archiving> {
    const queueName = uniqueQueueName(label);
    const bucket = await servers.s3.createBucket();
    const producerRegistry = new Registry();
    // The producer's kind of client, connected before the first enqueue: a producer fails fast
    // (redis_unavailable) while its connection is still being made. A long enqueue timeout, so a
    // loaded machine cannot turn the expected outcomes into redis_unavailable drops.
    const enqueueTimeoutMs = 10_000;
    const producerRedis = createProducerRedis(servers.redis.url, enqueueTimeoutMs);
    producerRedis.on('error', () => undefined);
    const producer = guard.producer({
      redis: producerRedis,
      enqueueTimeoutMs,
      queueName,
      maxQueued: ARCHIVED,
      registry: producerRegistry,
    });
    let consumer: ArchiveConsumer | undefined;
    const close = async (): Promise<void> => {
      await producer.close();
      await producerRedis.quit().catch(() => {
        producerRedis.disconnect();
      });
      await consumer?.close();
    };
    try {
      if (producerRedis.status !== 'ready') await once(producerRedis, 'ready');
      const statuses: string[] = [];
      for (let index = 0; index < ARCHIVED + DROPPED_FULL; index += 1) {
        const result = await producer.enqueue(
          { index, body: wordyText(4_000_000, index + 1) },
          { taskId: `task-${index}`, integration: 'acme-bank' },
        );
        statuses.push(outcome(result));
      }
      statuses.push(outcome(await producer.enqueue({ big: 1n }, { taskId: 'bigint' })));
      expect(statuses).toEqual([
        ...Array<string>(ARCHIVED).fill('queued'),
        ...Array<string>(DROPPED_FULL).fill('queue_full'),
        'not_serializable',
      ]);

      consumer = await guard.consumer({
        ...consumerTarget(servers, queueName, bucket),
        metricsPort: 0,
        metricsHost: '127.0.0.1',
      });
      const { registry } = consumer;
      await waitFor(
        async () =>
          (await counterValue(registry, 'debug_archiver_archived_payloads_total')) === ARCHIVED
            ? true
            : undefined,
        { what: `${ARCHIVED} payloads archived`, timeoutMs: 30_000 },
      );
      expect(consumer.metricsPort).toBeGreaterThan(0);
      return {
        producerRegistry,
        consumer,
        opsUrl: `http://127.0.0.1:${String(consumer.metricsPort)}`,
        close,
      };
    } catch (error) {
      await close();
      throw error;
    }
  }

  it.skipIf(skipWithout('promtool'))(
    'serves expositions that promtool check metrics accepts without a warning, consumer and producer',
    async () => {
      expect(onPath('promtool'), 'promtool (Debian package prometheus) must be on PATH in CI').toBe(true);
      const archiving = await archiveAndDrop('promtool');
      try {
        const response = await fetch(`${archiving.opsUrl}/metrics`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        const consumerText = await response.text();
        expect(consumerText).toMatch(new RegExp(`^debug_archiver_archived_payloads_total ${ARCHIVED}$`, 'm'));
        expect(consumerText).toMatch(/^debug_archiver_queue_jobs\{state="waiting"\} 0$/m);
        expect(consumerText).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
        // Read from the threads at scrape time; zero while none has started.
        expect(consumerText).toMatch(/^debug_archiver_redaction_thread_memory_bytes\{kind="external"\} \d+/m);

        const producerText = await archiving.producerRegistry.metrics();
        expect(producerText).toMatch(
          new RegExp(`^debug_archiver_enqueue_total\\{result="queued",reason=""\\} ${ARCHIVED}$`, 'm'),
        );
        expect(producerText).toMatch(
          new RegExp(
            `^debug_archiver_enqueue_total\\{result="dropped",reason="queue_full"\\} ${DROPPED_FULL}$`,
            'm',
          ),
        );
        expect(producerText).toMatch(
          /^debug_archiver_enqueue_total\{result="dropped",reason="not_serializable"\} 1$/m,
        );
        expect(producerText).toMatch(/^debug_archiver_enqueue_busy_seconds_total (?!0$)[\d.e+-]+$/m);

        // Soft, so one run reports the findings on both expositions.
        expect.soft(await run(guard, 'promtool', ['check', 'metrics'], consumerText)).toEqual({
          code: 0,
          output: '',
        });
        expect.soft(await run(guard, 'promtool', ['check', 'metrics'], producerText)).toEqual({
          code: 0,
          output: '',
        });
      } finally {
        await archiving.close();
      }
    },
  );

  it.skipIf(skipWithout('promtool'))('ships a Prometheus config promtool check config accepts', async () => {
    expect(onPath('promtool'), 'promtool (Debian package prometheus) must be on PATH in CI').toBe(true);
    const config = new URL('../../prometheus/prometheus.yml', import.meta.url).pathname;
    const result = await run(guard, 'promtool', ['check', 'config', config]);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it.skipIf(skipWithout('prometheus'))(
    'is scraped by a real Prometheus, where every query of the dashboard returns data',
    async () => {
      expect(onPath('prometheus'), 'prometheus (Debian package) must be on PATH in CI').toBe(true);
      const archiving = await archiveAndDrop('prometheus');
      const directory = await mkdtemp(join(tmpdir(), 'debug-archiver-prometheus-'));
      // The producer's registry served the way a host application would, so the producer panels
      // have data too.
      const producerServer: Server = createServer((_request, response) => {
        archiving.producerRegistry
          .metrics()
          .then((text) => {
            response.writeHead(200, { 'content-type': archiving.producerRegistry.contentType }).end(text);
          })
          .catch((error: unknown) => {
            response.writeHead(500).end(String(error));
          });
      });
      let prometheus: ChildProcess | undefined;
      let log = '';
      try {
        producerServer.listen(0, '127.0.0.1');
        await once(producerServer, 'listening');
        const producerAddress = producerServer.address();
        if (producerAddress === null || typeof producerAddress === 'string') throw new Error('no address');
        const port = await freePort();
        const api = `http://127.0.0.1:${port}`;
        const config = join(directory, 'prometheus.yml');
        await writeFile(
          config,
          stringify({
            global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
            scrape_configs: [
              {
                job_name: 'consumer',
                static_configs: [{ targets: [archiving.opsUrl.slice('http://'.length)] }],
              },
              {
                job_name: 'producer',
                static_configs: [{ targets: [`127.0.0.1:${producerAddress.port}`] }],
              },
            ],
          }),
        );
        prometheus = guard.spawn(
          'prometheus',
          [
            `--config.file=${config}`,
            `--storage.tsdb.path=${join(directory, 'data')}`,
            `--web.listen-address=127.0.0.1:${port}`,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const keep = (chunk: string): void => {
          log = (log + chunk).slice(-20_000);
        };
        prometheus.stdout?.setEncoding('utf8').on('data', keep);
        prometheus.stderr?.setEncoding('utf8').on('data', keep);
        const child = prometheus;

        const query = async (promql: string): Promise<QueryResponse> => {
          if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${log}`);
          const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
          return (await response.json()) as QueryResponse;
        };
        /** The series the query selects; undefined when none; throws when Prometheus rejects it. */
        const nonEmpty = async (promql: string): Promise<QueryData | undefined> => {
          const answer = await query(promql);
          if (answer.status !== 'success') throw new Error(`${promql}: ${answer.error ?? 'error'}`);
          return answer.data !== undefined && answer.data.result.length > 0 ? answer.data : undefined;
        };
        const selected = async (promql: string): Promise<QueryData> =>
          (await nonEmpty(promql)) ?? { result: [] };

        await waitFor(
          async () => {
            if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${log}`);
            return fetch(`${api}/-/ready`).then(
              (response) => (response.ok ? true : undefined),
              () => undefined,
            );
          },
          { what: 'prometheus to be ready', timeoutMs: 20_000, intervalMs: 100 },
        );

        // Three scrapes of each target, so rates over 5 s have samples.
        const up = await waitFor(
          async () => {
            const data = await nonEmpty('count_over_time(up[1m]) >= 3 and up == 1');
            return data?.result.length === 2 ? data : undefined;
          },
          { what: `three scrapes of both targets\n${log}`, timeoutMs: 20_000, intervalMs: 200 },
        );
        expect(up.result.map((series) => series.metric.job).sort()).toEqual(['consumer', 'producer']);

        const archived = await selected('debug_archiver_archived_payloads_total');
        expect(archived.result).toHaveLength(1);
        expect(Number(archived.result[0]?.value[1])).toBe(ARCHIVED);
        expect(archived.result[0]?.metric.job).toBe('consumer');

        const waiting = await selected('debug_archiver_queue_jobs{state="waiting"}');
        expect(waiting.result.map((series) => Number(series.value[1]))).toEqual([0]);

        const dropped = await selected('debug_archiver_enqueue_total{result="dropped",reason="queue_full"}');
        expect(dropped.result.map((series) => Number(series.value[1]))).toEqual([DROPPED_FULL]);

        // Every panel has data: a query Prometheus rejects fails at once; one that selects
        // nothing fails after the wait.
        const queries = await dashboardQueries();
        expect(queries.length).toBeGreaterThan(20);
        for (const { panel, expr } of queries) {
          await waitFor(() => nonEmpty(expr), {
            what: `data for "${panel}": ${expr}`,
            timeoutMs: 15_000,
            intervalMs: 250,
          });
        }
      } finally {
        if (prometheus !== undefined && prometheus.exitCode === null && prometheus.signalCode === null) {
          const exited = once(prometheus, 'exit');
          prometheus.kill('SIGTERM');
          await exited;
        }
        await new Promise((resolve) => producerServer.close(resolve));
        await archiving.close();
        await rm(directory, { recursive: true, force: true });
      }
    },
  );

  it('answers /healthz, and /readyz 200 with Redis and S3 up, 503 naming S3 once it is down', async () => {
    const ownS3 = await startTestS3();
    let s3Running = true;
    let consumer: ArchiveConsumer | undefined;
    try {
      consumer = await guard.consumer({
        redisUrl: servers.redis.url,
        queueName: uniqueQueueName('readyz'),
        bucket: await ownS3.createBucket(),
        s3Endpoint: ownS3.endpoint,
        credentials: ownS3.credentials,
        metricsPort: 0,
        metricsHost: '127.0.0.1',
      });
      const url = `http://127.0.0.1:${String(consumer.metricsPort)}`;

      const health = await fetch(`${url}/healthz`);
      expect({ status: health.status, body: await health.json() }).toEqual({
        status: 200,
        body: { status: 'ok' },
      });

      const ready = await fetch(`${url}/readyz`);
      expect({ status: ready.status, body: await ready.json() }).toEqual({
        status: 200,
        body: { status: 'ready', redis: 'ok', s3: 'ok' },
      });

      // The redaction threads start with the consumer, before any payload needs them.
      const { registry } = consumer;
      await waitFor(
        async () =>
          /^debug_archiver_redaction_thread_memory_bytes\{kind="heap"\} [1-9]\d*$/m.test(
            await registry.metrics(),
          )
            ? true
            : undefined,
        { what: 'the redaction threads started with no payload', timeoutMs: 10_000 },
      );

      await ownS3.destroy();
      s3Running = false;
      const notReady = await fetch(`${url}/readyz`);
      const body = (await notReady.json()) as { status: string; redis: string; s3: string };
      expect(notReady.status).toBe(503);
      expect(body).toMatchObject({ status: 'not ready', redis: 'ok' });
      expect(typeof body.s3).toBe('string');
      expect(body.s3).not.toBe('ok');
      expect(body.s3.length).toBeGreaterThan(0);

      const stillAlive = await fetch(`${url}/healthz`);
      expect(stillAlive.status).toBe(200);
      await stillAlive.body?.cancel();
    } finally {
      await consumer?.close();
      if (s3Running) await ownS3.destroy();
    }
  });
});
