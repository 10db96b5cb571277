import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startLocalRedis, type LocalRedis } from '../../src/local/redis-server.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export interface TestCluster {
  /** URL of one node: the seed the clients discover the cluster from. */
  url: string;
  nodes: LocalRedis[];
  destroy(): Promise<void>;
}

/** Three master nodes on free loopback ports, joined into one cluster with redis-cli. */
export async function startTestCluster(): Promise<TestCluster> {
  const nodes = await Promise.all([0, 1, 2].map(() => startLocalRedis({ clusterNode: true })));
  const destroy = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.destroy()));
  };
  try {
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    for (const node of nodes) {
      const probe = new Redis(node.url, { maxRetriesPerRequest: 1 });
      try {
        await waitFor(
          async () => ((await probe.cluster('INFO')).includes('cluster_state:ok') ? true : undefined),
          {
            what: `cluster node ${node.port} to be ready`,
            timeoutMs: 20_000,
            intervalMs: 100,
          },
        );
      } finally {
        probe.disconnect();
      }
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return { url: nodes[0]?.url ?? '', nodes, destroy };
}
