import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { DebugArchiverError } from '../errors.ts';
import { startLocalRedis } from '../local/redis-server.ts';
import type { StartedTestContainer } from 'testcontainers';

export interface DemoRedis {
  readonly url: string;
  /** Where it came from, for the user. */
  readonly origin: string;
  /** Stops what the demo started; a Redis from REDIS_URL is left alone. */
  stop(): Promise<void>;
}

async function onPath(command: string, path: string | undefined): Promise<boolean> {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

function dockerReachable(env: NodeJS.ProcessEnv): boolean {
  return (env.DOCKER_HOST ?? '') !== '' || existsSync('/var/run/docker.sock');
}

async function startRedisContainer(): Promise<DemoRedis> {
  let testcontainers: typeof import('testcontainers');
  try {
    testcontainers = await import('testcontainers');
  } catch (error) {
    throw new DebugArchiverError(
      'ERR_LOCAL_SERVER',
      'redis-server is not on PATH and testcontainers (a development dependency) is not installed: install redis-server, run `npm ci` in a clone of debug-archiver, or set REDIS_URL',
      { cause: error },
    );
  }
  const { GenericContainer, Wait } = testcontainers;
  let container: StartedTestContainer;
  try {
    container = await new GenericContainer('redis:7-alpine')
      .withCommand(['redis-server', '--maxmemory-policy', 'noeviction'])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
      .start();
  } catch (error) {
    throw new DebugArchiverError(
      'ERR_LOCAL_SERVER',
      `redis-server is not on PATH and a redis:7-alpine container could not be started (${error instanceof Error ? error.message : String(error)}): install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), or set REDIS_URL to a Redis you run`,
      { cause: error },
    );
  }
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    origin: 'redis:7-alpine container, removed at exit',
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * The demo's Redis: REDIS_URL when set, else a private redis-server on a free port, else (no
 * redis-server but a Docker engine) a container. With neither, startLocalRedis's error says
 * what to install.
 */
export async function provideRedis(env: NodeJS.ProcessEnv): Promise<DemoRedis> {
  const given = env.REDIS_URL?.trim();
  if (given) return { url: given, origin: 'from REDIS_URL', stop: () => Promise.resolve() };
  if (!(await onPath('redis-server', env.PATH)) && dockerReachable(env)) return startRedisContainer();
  const local = await startLocalRedis();
  return {
    url: local.url,
    origin: 'private redis-server, deleted at exit',
    stop: () => local.destroy(),
  };
}
