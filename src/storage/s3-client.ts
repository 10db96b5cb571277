import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface S3ClientOptions {
  region: string;
  /** An S3-compatible endpoint (MinIO, s3rver); implies path-style addressing. */
  endpoint?: string | undefined;
  /** Sockets per agent; uploads beyond it wait for a socket. */
  maxSockets: number;
  /** Static credentials; without them the SDK's default chain (environment, profile, role) is used. */
  credentials?: S3ClientConfig['credentials'];
  /** Agents to use (to observe their sockets); made from maxSockets when absent. */
  agents?: S3Agents;
}

export interface S3Agents {
  http: HttpAgent;
  https: HttpsAgent;
}

/** Keep-alive agents with `maxSockets` sockets each, reusing the warmest socket first. */
export function createS3Agents(maxSockets: number): S3Agents {
  const options = { keepAlive: true, maxSockets, scheduling: 'lifo' as const };
  return { http: new HttpAgent(options), https: new HttpsAgent(options) };
}

const count = (table: NodeJS.ReadOnlyDict<unknown[]>): number =>
  Object.values(table).reduce((sum, list) => sum + (list?.length ?? 0), 0);

/** Sockets in use, kept alive idle, and requests waiting for a socket, across both agents. */
export function s3SocketCounts(agents: S3Agents): { active: number; idle: number; waiting: number } {
  const all = [agents.http, agents.https];
  return {
    active: all.reduce((sum, agent) => sum + count(agent.sockets), 0),
    idle: all.reduce((sum, agent) => sum + count(agent.freeSockets), 0),
    waiting: all.reduce((sum, agent) => sum + count(agent.requests), 0),
  };
}

/** Time allowed to open a connection; a dead endpoint fails fast and the job retries. */
const CONNECTION_TIMEOUT_MS = 5_000;
/** A socket that moves no bytes for this long is dead, even mid-upload. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;
/** Longest a single request (one part of at most partSize) may take end to end. */
const REQUEST_TIMEOUT_MS = 120_000;

/**
 * An S3 client over keep-alive agents with `maxSockets` sockets, so concurrent uploads reuse
 * warm connections instead of queueing behind the SDK's default of 50.
 */
export function createS3Client(options: S3ClientOptions): S3Client {
  const agents = options.agents ?? createS3Agents(options.maxSockets);
  return new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    requestHandler: new NodeHttpHandler({
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    }),
  });
}
