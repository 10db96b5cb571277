import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { DebugArchiverError } from '../errors.ts';
import { freePort } from './free-port.ts';

export interface LocalRedis {
  readonly url: string;
  readonly port: number;
  /** rediss:// URL of the TLS port, when started with `tls`. */
  readonly tlsUrl: string | undefined;
  /** Stops the server (SIGTERM; with AOF on, it syncs first). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder, so AOF brings the data back. */
  start(): Promise<void>;
  /** Stops it and deletes its folder. */
  destroy(): Promise<void>;
}

export interface LocalRedisOptions {
  /** Persist with an append-only file, as production should. Default false. */
  appendOnly?: boolean;
  /** Require this password (Redis AUTH); the URLs carry it. */
  password?: string;
  /** Start as a Redis Cluster node (joined into a cluster by `redis-cli --cluster create`). */
  clusterNode?: boolean;
  /** Also listen with TLS on a second free port, with these PEM files; `tlsUrl` is rediss://. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

const NOT_FOUND =
  'redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to a Redis you run';

async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new DebugArchiverError('ERR_LOCAL_SERVER', `redis-server exited with ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch {
      await delay(50);
    } finally {
      probe.disconnect();
    }
  }
  throw new DebugArchiverError('ERR_LOCAL_SERVER', 'redis-server did not answer within 10 s');
}

/**
 * Starts a private `redis-server` on a free loopback port with its own folder, for the demo and
 * the tests (never the shared one on 6379). Configured as production should be: noeviction.
 */
export async function startLocalRedis(options: LocalRedisOptions = {}): Promise<LocalRedis> {
  const port = await freePort();
  const tlsPort = options.tls === undefined ? undefined : await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'debug-archiver-redis-'));
  const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
  const url = `redis://${auth}127.0.0.1:${port}`;
  const tlsUrl = tlsPort === undefined ? undefined : `rediss://${auth}127.0.0.1:${tlsPort}`;
  const extraArgs = [
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...(options.clusterNode === true
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf']
      : []),
    ...(options.tls === undefined || tlsPort === undefined
      ? []
      : [
          '--tls-port',
          String(tlsPort),
          '--tls-cert-file',
          options.tls.certFile,
          '--tls-key-file',
          options.tls.keyFile,
          '--tls-ca-cert-file',
          options.tls.caFile,
          '--tls-auth-clients',
          'no',
        ]),
  ];
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const spawned = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.appendOnly === true ? 'yes' : 'no',
        '--appendfsync',
        'everysec',
        '--maxmemory-policy',
        'noeviction',
        '--daemonize',
        'no',
        ...extraArgs,
      ],
      { stdio: 'ignore' },
    );
    child = spawned;
    const failed = once(spawned, 'error').then(([error]) => {
      throw (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? new DebugArchiverError('ERR_LOCAL_SERVER', NOT_FOUND)
        : (error as Error);
    });
    await Promise.race([waitForPing(url, spawned), failed]);
    failed.catch(() => undefined);
  };

  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  };

  await start();
  return {
    url,
    port,
    tlsUrl,
    start,
    stop,
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
