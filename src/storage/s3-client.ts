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
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' as const };
  return new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    }),
  });
}
