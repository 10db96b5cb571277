import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * What the proxy does with each request:
 * - `pass`: forwards it untouched;
 * - `delay`: waits `ms` before forwarding it;
 * - `fail`: answers a share (`fraction`, 0..1) of requests with a 503 SlowDown S3 error, forwards the rest;
 * - `refuse`: destroys the socket without an answer (and every open one when switched on);
 * - `hold`: never answers a request whose path matches `path` (an S3 that hangs on some
 *   requests), forwards the rest; held requests end when their client gives up or the proxy closes.
 */
export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'fail'; fraction: number }
  | { kind: 'refuse' }
  | { kind: 'hold'; path: RegExp };

export interface FaultProxyCounts {
  /** Requests received, whatever happened to them. */
  requests: number;
  /** Requests forwarded to the target. */
  forwarded: number;
  /** Requests answered with a 503 by the proxy. */
  failed: number;
  /** Requests whose socket the proxy destroyed. */
  refused: number;
  /** Requests held unanswered (`hold`). */
  held: number;
  /** Forwarded requests not yet answered by the target. */
  inFlight: number;
  /** Multipart uploads created (POST ?uploads), completed (POST ?uploadId) and aborted (DELETE ?uploadId). */
  multipartCreated: number;
  multipartCompleted: number;
  multipartAborted: number;
  /** AbortMultipartUpload requests received, whatever the answer. */
  multipartAbortsAsked: number;
}

export interface FaultProxy {
  /** The proxy's address, to use as S3 endpoint. */
  readonly endpoint: string;
  readonly port: number;
  setMode(mode: FaultMode): void;
  counts(): FaultProxyCounts;
  close(): Promise<void>;
}

const SLOW_DOWN_BODY =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>' +
  '<RequestId>fault-proxy</RequestId><HostId>fault-proxy</HostId></Error>';

/** A deterministic "random" so a run's share of failures does not vary with timing alone. */
function sequence(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 4_294_967_296;
  };
}

/**
 * An HTTP reverse proxy on a free loopback port in front of `target` (an http:// S3 endpoint):
 * forwards method, path, headers and body as streams, with a switchable fault mode.
 */
export async function startFaultProxy(target: string, seed = 7): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const random = sequence(seed);
  let mode: FaultMode = { kind: 'pass' };
  const sockets = new Set<Socket>();
  const counts: FaultProxyCounts = {
    requests: 0,
    forwarded: 0,
    failed: 0,
    refused: 0,
    held: 0,
    inFlight: 0,
    multipartCreated: 0,
    multipartCompleted: 0,
    multipartAborted: 0,
    multipartAbortsAsked: 0,
  };

  function countMultipart(request: IncomingMessage): void {
    const query = new URL(request.url ?? '/', 'http://proxy').searchParams;
    if (request.method === 'POST' && query.has('uploads')) counts.multipartCreated += 1;
    else if (request.method === 'POST' && query.has('uploadId')) counts.multipartCompleted += 1;
    else if (request.method === 'DELETE' && query.has('uploadId')) counts.multipartAborted += 1;
  }

  function forward(request: IncomingMessage, response: ServerResponse): void {
    counts.forwarded += 1;
    counts.inFlight += 1;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      counts.inFlight -= 1;
    };
    const upstream = httpRequest(
      {
        host: targetUrl.hostname,
        port: targetUrl.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        if (answer.statusCode !== undefined && answer.statusCode < 300) countMultipart(request);
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
        answer.once('end', settle);
        answer.once('error', () => {
          settle();
          response.destroy();
        });
      },
    );
    upstream.once('error', () => {
      settle();
      response.destroy();
    });
    response.once('close', () => {
      settle();
      upstream.destroy();
    });
    request.pipe(upstream);
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    counts.requests += 1;
    if (
      request.method === 'DELETE' &&
      new URL(request.url ?? '/', 'http://proxy').searchParams.has('uploadId')
    ) {
      counts.multipartAbortsAsked += 1;
    }
    const current = mode;
    if (current.kind === 'refuse') {
      counts.refused += 1;
      request.socket.destroy();
      return;
    }
    if (current.kind === 'fail' && random() < current.fraction) {
      counts.failed += 1;
      // Drain the body so the client sees the answer instead of a reset.
      request.resume();
      response.writeHead(503, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(SLOW_DOWN_BODY),
        'x-amz-request-id': 'fault-proxy',
      });
      response.end(SLOW_DOWN_BODY);
      return;
    }
    if (current.kind === 'hold' && current.path.test(request.url ?? '')) {
      counts.held += 1;
      request.resume();
      return;
    }
    if (current.kind === 'delay') {
      request.pause();
      await delay(current.ms);
      if (request.socket.destroyed) return;
    }
    forward(request, response);
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      response.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.on('connection', (socket) => {
    if (mode.kind === 'refuse') {
      counts.refused += 1;
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    setMode(next: FaultMode): void {
      mode = next;
      if (next.kind === 'refuse') for (const socket of sockets) socket.destroy();
    },
    counts: () => ({ ...counts }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
