import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { UndiciHttpHandler } from '@smithy/undici-http-handler';
import { Agent, Pool, buildConnector } from 'undici';

/** The S3 client's timeouts, those NodeHttpHandler had (connection, socket and request timeouts). */
export interface S3Timeouts {
  /** Time allowed to open a connection (TCP and TLS); a dead endpoint fails fast and the job retries. */
  connectMs: number;
  /**
   * A connection that moves no bytes for this long is closed, even mid-upload; its request fails
   * with a TimeoutError. Slow uploads that keep moving are not cut short.
   */
  idleMs: number;
  /** Longest one request (one part of at most partSize) may take until its answer's headers. */
  requestMs: number;
}

export const S3_TIMEOUTS: Readonly<S3Timeouts> = { connectMs: 5_000, idleMs: 30_000, requestMs: 120_000 };

export interface S3ClientOptions {
  region: string;
  /** An S3-compatible endpoint (MinIO, s3rver); implies path-style addressing. */
  endpoint?: string | undefined;
  /** Connections to the endpoint; uploads beyond it wait for one. */
  maxSockets: number;
  /** Static credentials; without them the SDK's default chain (environment, profile, role) is used. */
  credentials?: S3ClientConfig['credentials'];
  /**
   * The undici Agent to send over (to observe its sockets, and to close it when done); made from
   * maxSockets and `timeouts` when absent. The client's `destroy()` destroys it either way.
   */
  dispatcher?: S3Dispatcher;
  /** Default: S3_TIMEOUTS. */
  timeouts?: Partial<S3Timeouts>;
}

/** What the S3 client sends over: an undici Agent (one connection pool per origin). */
export type S3Dispatcher = Agent;

/**
 * Opens connections as undici does, each with a socket idle timeout: undici's own headersTimeout
 * runs from the moment a request is handed to the socket, so for a Buffer body (every part
 * lib-storage uploads) it would bound the whole upload, not the time without progress.
 */
function connectorWithIdleTimeout(timeouts: S3Timeouts): buildConnector.connector {
  const connect = buildConnector({ timeout: timeouts.connectMs });
  return (options, callback) => {
    connect(options, (...result) => {
      const [, socket] = result;
      socket?.setTimeout(timeouts.idleMs, () => {
        socket.destroy(
          Object.assign(new Error(`the S3 connection moved no bytes for ${timeouts.idleMs} ms`), {
            name: 'TimeoutError',
          }),
        );
      });
      callback(...result);
    });
  };
}

/**
 * A keep-alive undici Agent with up to `maxSockets` connections per origin. Each origin gets a
 * Pool, even of one connection (undici's default makes a Client then, whose stats have no free
 * or queued count).
 */
export function createS3Dispatcher(maxSockets: number, timeouts: Partial<S3Timeouts> = {}): S3Dispatcher {
  const resolved = { ...S3_TIMEOUTS, ...timeouts };
  return new Agent({
    connections: maxSockets,
    connect: connectorWithIdleTimeout(resolved),
    headersTimeout: resolved.requestMs,
    bodyTimeout: resolved.idleMs,
    factory: (origin, options) => new Pool(origin, options),
  });
}

/**
 * Sockets carrying a request (or being opened for one), sockets kept alive idle, and requests
 * waiting for a socket, across the Agent's origins.
 */
export function s3SocketCounts(dispatcher: S3Dispatcher): { active: number; idle: number; waiting: number } {
  const counts = { active: 0, idle: 0, waiting: 0 };
  for (const stats of Object.values(dispatcher.stats)) {
    // PoolStats: `pending` counts the pool's queue and the requests handed to a connection not
    // yet written (while it connects); `running` those on the wire; `free` the connections
    // without a request (a tick after an answer completes).
    const queued = 'queued' in stats ? stats.queued : 0;
    counts.active += stats.running + stats.pending - queued;
    counts.idle += 'free' in stats ? stats.free : 0;
    counts.waiting += queued;
  }
  return counts;
}

type HandleArguments = Parameters<UndiciHttpHandler['handle']>;
type CallerSignal = NonNullable<NonNullable<HandleArguments[1]>['abortSignal']>;

/** The caller's signal as a platform AbortSignal (the SDK's types still allow an onabort-only one). */
function platformSignal(signal: CallerSignal): AbortSignal {
  if (signal instanceof AbortSignal) return signal;
  const controller = new AbortController();
  const previous = signal.onabort;
  signal.onabort = (...args: unknown[]) => {
    controller.abort();
    if (typeof previous === 'function') (previous as (...a: unknown[]) => unknown).apply(signal, args);
  };
  return controller.signal;
}

/**
 * UndiciHttpHandler plus the deadline NodeHttpHandler's requestTimeout with throwOnRequestTimeout
 * gave: a request without its answer's headers `requestTimeoutMs` after it was handed to the
 * handler (waiting for a connection included, which undici's headersTimeout does not count) is
 * aborted and fails with a TimeoutError (code ETIMEDOUT), which the SDK retries.
 */
class S3HttpHandler extends UndiciHttpHandler {
  readonly #requestTimeoutMs: number;

  constructor(dispatcher: S3Dispatcher, requestTimeoutMs: number) {
    super({ dispatcher });
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  override async handle(
    ...[request, options = {}]: HandleArguments
  ): ReturnType<UndiciHttpHandler['handle']> {
    const caller = options.abortSignal;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort();
    }, this.#requestTimeoutMs);
    try {
      return await super.handle(request, {
        ...options,
        abortSignal:
          caller === undefined ? deadline.signal : AbortSignal.any([platformSignal(caller), deadline.signal]),
      });
    } catch (error) {
      if (deadline.signal.aborted && caller?.aborted !== true) {
        throw Object.assign(
          new Error(`the S3 request exceeded its requestTimeout of ${this.#requestTimeoutMs} ms`, {
            cause: error,
          }),
          { name: 'TimeoutError', code: 'ETIMEDOUT' },
        );
      }
      // Aborted by the caller: the SDK rejects with an AbortError of its own, as with NodeHttpHandler.
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * An S3 client over an undici Agent of `maxSockets` keep-alive connections, so concurrent
 * uploads reuse warm connections instead of queueing behind a small pool.
 */
export function createS3Client(options: S3ClientOptions): S3Client {
  const timeouts = { ...S3_TIMEOUTS, ...options.timeouts };
  const dispatcher = options.dispatcher ?? createS3Dispatcher(options.maxSockets, timeouts);
  return new S3Client({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    requestHandler: new S3HttpHandler(dispatcher, timeouts.requestMs),
  });
}
