import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { currentS3RequestSignal } from './request-abort.ts';

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
  /**
   * Sign request bodies sent over HTTPS too (SigV4's SHA-256 of every body, on the event loop).
   * Off by default: see unsignedPayloadOverTls. Over plain HTTP bodies are always signed.
   */
  signPayload?: boolean | undefined;
  /**
   * Resolve the SDK's middleware stack once per command class (its `cacheMiddleware`) for the
   * sends without per-request options. Those sends then share one handler context, into which
   * the SDK writes each request's endpoint: concurrent PUTs to different buckets went to one
   * bucket's host with it (test/unit/s3-client.test.ts). Only for a client whose requests all go
   * to one bucket, as the consumer's do. Off by default.
   */
  oneBucket?: boolean | undefined;
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

const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

/**
 * Sends S3 requests with a body over HTTPS as `x-amz-content-sha256: UNSIGNED-PAYLOAD`, so the
 * SigV4 signer does not hash every body with SHA-256 on the event loop (8 MiB parts included),
 * as the Java, Go and Kotlin SDKs do over HTTPS: TLS protects the body in transit, and the SDK's
 * CRC-32 checksum header, which the signature covers, lets S3 verify it. This SDK signs every
 * body it holds whole. Over plain HTTP bodies are signed, as there.
 */
function unsignedPayloadOverTls(client: S3Client): void {
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as {
        protocol?: string;
        headers?: Record<string, string>;
        body?: unknown;
      };
      const { headers } = request;
      if (
        request.protocol === 'https:' &&
        request.body != null &&
        headers !== undefined &&
        !Object.keys(headers).some((name) => name.toLowerCase() === PAYLOAD_HASH_HEADER)
      ) {
        headers[PAYLOAD_HASH_HEADER] = 'UNSIGNED-PAYLOAD';
      }
      return next(args);
    },
    { step: 'build', name: 'debugArchiverUnsignedPayloadOverTls' },
  );
}

type HandlerArgs = Parameters<NodeHttpHandler['handle']>;

/**
 * NodeHttpHandler whose requests take the signal of the abortingS3Requests they are sent within,
 * unless it has aborted already: a request begun after the abort is its clean-up (lib-storage's
 * AbortMultipartUpload, which deletes the parts of an upload cut short), and goes out.
 */
class JobAbortedHttpHandler extends NodeHttpHandler {
  override handle(
    request: HandlerArgs[0],
    options: HandlerArgs[1] = {},
  ): ReturnType<NodeHttpHandler['handle']> {
    const jobSignal = currentS3RequestSignal();
    const abortSignal = options.abortSignal ?? (jobSignal?.aborted === false ? jobSignal : undefined);
    return super.handle(request, abortSignal === undefined ? options : { ...options, abortSignal });
  }
}

/**
 * An S3 client over keep-alive agents with `maxSockets` sockets, so concurrent uploads reuse
 * warm connections instead of queueing behind the SDK's default of 50, and whose bodies over
 * HTTPS are not hashed for the signature unless `signPayload` (unsignedPayloadOverTls). Requests
 * sent within abortingS3Requests are aborted with its signal. With `oneBucket` its middleware
 * stack is fixed once it has sent a request: add to it before.
 */
export function createS3Client(options: S3ClientOptions): S3Client {
  const agents = options.agents ?? createS3Agents(options.maxSockets);
  const client = new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    // The middleware stack resolved once per command class instead of at every send (ours is
    // complete before the first), for sends without per-request options: the consumer's PUTs,
    // lib-storage's and the task index's, aborted through abortingS3Requests. 100 KB payloads
    // end to end, four interleaved runs: 4.71-5.06 ms of consumer CPU per payload, against
    // 4.93-5.11 with the stack resolved at every send and the signal passed per request.
    cacheMiddleware: options.oneBucket === true,
    requestHandler: new JobAbortedHttpHandler({
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    }),
  });
  if (options.signPayload !== true) unsignedPayloadOverTls(client);
  return client;
}
