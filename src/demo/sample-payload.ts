import { createPrng, type Prng } from './prng.ts';
import {
  accountsJson,
  htmlErrorPage,
  htmlPage,
  tokenJson,
  transactionsJson,
  type JsonValue,
} from './sample-bodies.ts';

/**
 * Deterministic sample debugging payloads, shaped like what a task worker that talks to banks
 * records: the task's input, every HTTP exchange (server-rendered HTML pages or JSON API
 * answers, with headers), its logs and its outcome. The demo, tests and benchmarks share it, so
 * one seed always gives the same bytes. All text is ASCII: characters and bytes agree.
 */

export type { JsonValue } from './sample-bodies.ts';

export interface RecordedExchange {
  id: string;
  startedAt: string;
  durationMs: number;
  request: {
    method: 'GET' | 'POST';
    url: string;
    headers: Record<string, string>;
    /** The JSON the task sent, or null. */
    body: JsonValue;
  };
  response: {
    status: number;
    headers: Record<string, string>;
    /** HTML as text; JSON answers parsed. */
    body: JsonValue;
  };
}

export interface LogEntry {
  at: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  exchangeId: string | null;
}

export interface SamplePayload {
  schema: 'debug-archiver.sample-payload/1';
  task: {
    id: string;
    integration: string;
    attempt: number;
    worker: { host: string; pid: number; version: string };
    startedAt: string;
    finishedAt: string;
    outcome: { status: 'succeeded' | 'failed'; error: string | null };
  };
  input: {
    customerId: string;
    accountIds: string[];
    dateRange: { from: string; to: string };
    options: { includePending: boolean; maxPages: number };
  };
  exchanges: RecordedExchange[];
  logs: LogEntry[];
}

interface Integration {
  name: string;
  bankName: string;
  origin: string;
  /** Share of transaction pages fetched as HTML (scraped) rather than from a JSON API. */
  htmlShare: number;
}

const INTEGRATIONS: readonly Integration[] = [
  { name: 'acme-bank', bankName: 'Acme Bank', origin: 'https://online.acme-bank.example', htmlShare: 0.8 },
  {
    name: 'globex-credit',
    bankName: 'Globex Credit Union',
    origin: 'https://secure.globex-credit.example',
    htmlShare: 0.4,
  },
  { name: 'initech-api', bankName: 'Initech', origin: 'https://api.initech.example', htmlShare: 0.15 },
];

/** The integrations sample payloads come from (the `integration` an enqueue passes). */
export const SAMPLE_INTEGRATIONS: readonly string[] = INTEGRATIONS.map((integration) => integration.name);

const BROWSER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
] as const;
const SERVERS = ['nginx', 'Apache', 'cloudflare', 'Microsoft-IIS/10.0'] as const;
const FAILURES = [
  'Could not find table.transactions on the activity page: the markup changed',
  'Session expired while paging (302 to /login)',
  'Unexpected currency XGB in transaction amount',
  'Timed out after 30000 ms waiting for the statements API',
] as const;

/** Start of the sample clock; each seed starts at its own moment within the following month. */
const EPOCH_MS = Date.UTC(2026, 0, 5, 8, 0, 0);
/** Room one exchange takes besides its body (headers, URL, timing) and its log lines. */
const EXCHANGE_OVERHEAD_CHARS = 1_600;
const HTML_PAGE_CHARS = { min: 4_000, max: 100_000 };
const JSON_PAGE_CHARS = { min: 2_000, max: 250_000 };

function uuid(rng: Prng): string {
  const hex = rng.hex(32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function contentLength(body: JsonValue): string {
  return String(typeof body === 'string' ? body.length : JSON.stringify(body).length);
}

/** Builds one payload: a fixed opening (login, accounts), then transaction pages until the budget is spent. */
class PayloadBuilder {
  readonly #rng: Prng;
  readonly #integration: Integration;
  readonly #payload: SamplePayload;
  readonly #session: string;
  readonly #agent: string;
  #clock: number;
  #chars: number;
  #lastPageUrl: string;

  constructor(rng: Prng) {
    this.#rng = rng;
    this.#integration = rng.pick(INTEGRATIONS);
    this.#clock = EPOCH_MS + rng.int(0, 30 * 86_400) * 1_000;
    this.#session = rng.hex(32);
    this.#agent = rng.pick(BROWSER_AGENTS);
    this.#lastPageUrl = `${this.#integration.origin}/`;
    const year = 2025;
    const failed = rng.chance(0.25);
    const startedAt = new Date(this.#clock).toISOString();
    this.#payload = {
      schema: 'debug-archiver.sample-payload/1',
      task: {
        id: `task_${rng.hex(20)}`,
        integration: this.#integration.name,
        attempt: rng.chance(0.8) ? 1 : rng.int(2, 4),
        worker: { host: `task-worker-${rng.hex(6)}`, pid: rng.int(100, 60_000), version: '4.12.0' },
        startedAt,
        // Same length as the final value, so the size budget already counts it.
        finishedAt: startedAt,
        outcome: failed
          ? { status: 'failed', error: rng.pick(FAILURES) }
          : { status: 'succeeded', error: null },
      },
      input: {
        customerId: `cus_${rng.hex(16)}`,
        accountIds: Array.from({ length: rng.int(1, 3) }, () => `acc_${rng.hex(12)}`),
        dateRange: { from: `${year}-01-01`, to: `${year}-12-31` },
        options: { includePending: rng.chance(0.5), maxPages: rng.int(20, 500) },
      },
      exchanges: [],
      logs: [],
    };
    this.#chars = JSON.stringify(this.#payload).length;
  }

  get payload(): SamplePayload {
    return this.#payload;
  }

  get chars(): number {
    return this.#chars;
  }

  #now(): string {
    return new Date(this.#clock).toISOString();
  }

  log(level: LogEntry['level'], message: string, exchangeId: string | null = null): void {
    const entry: LogEntry = { at: this.#now(), level, message, exchangeId };
    this.#payload.logs.push(entry);
    this.#chars += JSON.stringify(entry).length + 1;
  }

  #requestHeaders(kind: 'html' | 'json', hasBody: boolean, signedIn: boolean): Record<string, string> {
    const rng = this.#rng;
    const headers: Record<string, string> =
      kind === 'html'
        ? {
            accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
            'accept-language': 'en-GB,en;q=0.9',
            'accept-encoding': 'gzip, deflate, br',
            'user-agent': this.#agent,
            cookie: `SESSIONID=${this.#session}; lb=${rng.hex(8)}; consent=essential`,
            referer: this.#lastPageUrl,
          }
        : {
            accept: 'application/json',
            'accept-encoding': 'gzip',
            authorization: 'Bearer [redacted]',
            'user-agent': 'task-worker/4.12.0 node/24.4.0',
            'x-correlation-id': uuid(rng),
          };
    if (!signedIn) delete headers.authorization;
    if (hasBody) headers['content-type'] = 'application/json';
    return headers;
  }

  #responseHeaders(contentType: string, status: number): Record<string, string> {
    const rng = this.#rng;
    const headers: Record<string, string> = {
      date: new Date(this.#clock).toUTCString(),
      'content-type': contentType,
      'content-length': '0',
      server: rng.pick(SERVERS),
      'cache-control': 'no-store, no-cache, must-revalidate',
      'x-request-id': uuid(rng),
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
    };
    if (status === 200 && rng.chance(0.3))
      headers['set-cookie'] = `lb=${rng.hex(8)}; Path=/; Secure; HttpOnly; SameSite=Lax`;
    if (status === 503) headers['retry-after'] = String(rng.int(1, 5));
    return headers;
  }

  /** Records one exchange whose body `makeBody` builds once the exchange's other fields are known. */
  exchange(spec: {
    kind: 'html' | 'json';
    method: 'GET' | 'POST';
    path: string;
    requestBody?: JsonValue;
    /** False for the sign-in calls themselves, which carry no token yet. */
    signedIn?: boolean;
    status?: number;
    body: JsonValue;
  }): RecordedExchange {
    const rng = this.#rng;
    const status = spec.status ?? 200;
    const requestBody = spec.requestBody ?? null;
    const durationMs = rng.int(20, 900);
    const exchange: RecordedExchange = {
      id: `ex_${rng.hex(12)}`,
      startedAt: this.#now(),
      durationMs,
      request: {
        method: spec.method,
        url: `${this.#integration.origin}${spec.path}`,
        headers: this.#requestHeaders(spec.kind, requestBody !== null, spec.signedIn ?? true),
        body: requestBody,
      },
      response: {
        status,
        headers: this.#responseHeaders(
          spec.kind === 'html' ? 'text/html; charset=utf-8' : 'application/json',
          status,
        ),
        body: spec.body,
      },
    };
    exchange.response.headers['content-length'] = contentLength(spec.body);
    this.#clock += durationMs + rng.int(1, 60);
    this.#payload.exchanges.push(exchange);
    this.#chars += JSON.stringify(exchange).length + 1;
    if (spec.kind === 'html' && spec.method === 'GET') this.#lastPageUrl = exchange.request.url;
    this.log(
      status < 400 ? 'info' : 'warn',
      `${spec.method} ${spec.path} -> ${status} in ${durationMs} ms (${exchange.response.headers['content-length']} bytes)`,
      exchange.id,
    );
    return exchange;
  }

  /** The opening every task has: sign in, then list the accounts. */
  signIn(): void {
    const rng = this.#rng;
    const { bankName } = this.#integration;
    if (this.#integration.htmlShare >= 0.5) {
      this.exchange({
        kind: 'html',
        method: 'GET',
        path: '/login',
        body: htmlPage(rng, { bankName, title: 'Log in', year: 2025, targetChars: 4_000 }),
      });
      this.exchange({
        kind: 'json',
        method: 'POST',
        path: '/api/session',
        signedIn: false,
        requestBody: {
          username: `user${rng.int(1_000, 99_999)}`,
          password: '[redacted]',
          rememberDevice: false,
        },
        body: tokenJson(rng),
      });
    } else {
      this.exchange({
        kind: 'json',
        method: 'POST',
        path: '/oauth2/token',
        signedIn: false,
        requestBody: {
          grant_type: 'refresh_token',
          client_id: `cli_${rng.hex(10)}`,
          refresh_token: '[redacted]',
        },
        body: tokenJson(rng),
      });
    }
    this.exchange({
      kind: 'json',
      method: 'GET',
      path: '/v2/accounts?include=balances',
      body: accountsJson(rng, this.#payload.input.accountIds),
    });
  }

  /** One page of transactions whose body takes at most `room`, sometimes after a 503 and a retry. */
  transactionsPage(page: number, room: number): void {
    const rng = this.#rng;
    const { bankName } = this.#integration;
    const { from, to } = this.#payload.input.dateRange;
    const accountId = rng.pick(this.#payload.input.accountIds);
    const html = rng.chance(this.#integration.htmlShare);
    const limits = html ? HTML_PAGE_CHARS : JSON_PAGE_CHARS;
    const bodyChars = Math.min(rng.int(limits.min, limits.max), room);
    const path = html
      ? `/accounts/${accountId}/activity?from=${from}&to=${to}&page=${page}&sort=date_desc`
      : `/v2/accounts/${accountId}/transactions?from=${from}&to=${to}&page=${page}&limit=200`;
    if (rng.chance(0.04)) {
      this.exchange({ kind: 'html', method: 'GET', path, status: 503, body: htmlErrorPage(503, bankName) });
      this.log('warn', `page ${page}: 503 from ${bankName}, retrying`, null);
    }
    if (html) {
      this.exchange({
        kind: 'html',
        method: 'GET',
        path,
        body: htmlPage(rng, {
          bankName,
          title: `Account activity - page ${page}`,
          year: 2025,
          targetChars: bodyChars,
        }),
      });
    } else if (rng.chance(0.5)) {
      this.exchange({
        kind: 'json',
        method: 'GET',
        path,
        body: transactionsJson(rng, { accountId, year: 2025, page, targetChars: bodyChars }),
      });
    } else {
      this.exchange({
        kind: 'json',
        method: 'POST',
        path: '/v2/transactions/search',
        requestBody: {
          accountId,
          from,
          to,
          page,
          pageSize: 200,
          includePending: this.#payload.input.options.includePending,
        },
        body: transactionsJson(rng, { accountId, year: 2025, page, targetChars: bodyChars }),
      });
    }
  }

  /** Closes the task: the outcome's log line and the finish time. */
  finish(): void {
    const { outcome } = this.#payload.task;
    this.log(
      outcome.status === 'failed' ? 'error' : 'info',
      outcome.error ?? `done after ${this.#payload.exchanges.length} requests`,
    );
    this.#payload.task.finishedAt = this.#now();
  }
}

/**
 * A payload of about `targetBytes` of JSON (within a few KB, once the fixed opening of 3-12 KB
 * fits), the same for the same seed. Page bodies are 4-100 KB of HTML or 2-250 KB of
 * JSON, so a larger payload holds more pages.
 */
export function samplePayload(options: { seed: number; targetBytes: number }): SamplePayload {
  const rng = createPrng(options.seed);
  const builder = new PayloadBuilder(rng);
  builder.signIn();
  // The closing log line is written last but budgeted now.
  const closing = 200;
  for (let page = 1; ; page += 1) {
    const room = options.targetBytes - builder.chars - closing - EXCHANGE_OVERHEAD_CHARS;
    if (room < HTML_PAGE_CHARS.min / 2) break;
    builder.transactionsPage(page, room);
  }
  builder.finish();
  return builder.payload;
}
