/**
 * Child process: s3rver with one bucket in a temporary folder and, when `latencyMs` > 0, a TCP
 * proxy in front of it that delays each new connection and every piece of every response by
 * `latencyMs` (a far-away S3: one round trip more per request, one more per new socket).
 * Sends `{ endpoint, directEndpoint }` over IPC when ready; stops on SIGTERM or when the parent
 * goes away.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalS3 } from '../../src/local/s3-server.ts';

export interface S3ChildConfig {
  bucket: string;
  latencyMs: number;
}

export interface S3ChildReady {
  endpoint: string;
  directEndpoint: string;
}

function latencyProxy(targetPort: number, latencyMs: number): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.pause();
    let upstream: Socket | undefined;
    const close = (): void => {
      client.destroy();
      upstream?.destroy();
    };
    client.on('error', close);
    client.on('close', () => {
      sockets.delete(client);
      upstream?.destroy();
    });
    setTimeout(() => {
      if (client.destroyed) return;
      const up = connect(targetPort, '127.0.0.1', () => {
        client.pipe(up);
        client.resume();
      });
      upstream = up;
      sockets.add(up);
      up.on('data', (data: Buffer) => {
        setTimeout(() => {
          if (!client.destroyed) client.write(data);
        }, latencyMs);
      });
      up.on('end', () => {
        setTimeout(() => client.end(), latencyMs);
      });
      up.on('error', close);
      up.on('close', () => sockets.delete(up));
    }, latencyMs);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.on('close', () => {
        for (const socket of sockets) socket.destroy();
      });
      if (address !== null && typeof address === 'object') resolve({ server, port: address.port });
      else reject(new Error('no proxy port'));
    });
  });
}

const config = JSON.parse(process.env.BENCH_S3 ?? '{}') as S3ChildConfig;
const directory = await mkdtemp(join(tmpdir(), 'debug-archiver-bench-s3-'));
const s3 = await startLocalS3({ directory, buckets: [config.bucket] });
let proxy: Server | undefined;
let endpoint = s3.endpoint;
if (config.latencyMs > 0) {
  const started = await latencyProxy(Number(new URL(s3.endpoint).port), config.latencyMs);
  proxy = started.server;
  endpoint = `http://127.0.0.1:${started.port}`;
}

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  proxy?.close();
  await s3.stop().catch(() => undefined);
  await rm(directory, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
const ready: S3ChildReady = { endpoint, directEndpoint: s3.endpoint };
process.send?.(ready);
