import type { Server } from 'node:http';
import { once } from 'node:events';
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import express, { type Express } from 'express';
import type { RedisClient } from '../redis-client.ts';
import type { Registry } from 'prom-client';

/** How long a readiness probe waits on Redis or S3 before calling it unreachable. */
const PROBE_TIMEOUT_MS = 2_000;

export interface OpsServerDeps {
  registry: Registry;
  redis: RedisClient;
  s3: S3Client;
  bucket: string;
  /** Mounts more routes (the queue UI, the profiler) before the server starts listening. */
  extend?: (app: Express) => void;
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`));
        }, PROBE_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return error instanceof Error
      ? error.name === 'Error'
        ? error.message
        : `${error.name}: ${error.message}`
      : String(error);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The consumer's HTTP port: `/metrics` (Prometheus text format), `/healthz` (the process is up)
 * and `/readyz` (Redis and the bucket answer; 503 naming what does not).
 */
export async function startOpsServer(deps: OpsServerDeps, port: number, host: string): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/metrics', (_request, response, next) => {
    deps.registry
      .metrics()
      .then((text) => {
        response.type(deps.registry.contentType).send(text);
      })
      .catch(next);
  });
  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/readyz', (_request, response, next) => {
    Promise.all([
      probe(() => deps.redis.ping()),
      probe(() =>
        deps.s3.send(new HeadBucketCommand({ Bucket: deps.bucket }), {
          abortSignal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
        }),
      ),
    ])
      .then(([redis, s3]) => {
        const ready = redis === 'ok' && s3 === 'ok';
        response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', redis, s3 });
      })
      .catch(next);
  });
  deps.extend?.(app);
  const server = app.listen(port, host);
  await once(server, 'listening');
  return server;
}
