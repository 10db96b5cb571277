import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const MiB = 1024 * 1024;

/**
 * Every tunable with its default. Producers and the consumer read the same table, so a setting
 * means the same thing on both sides of the queue.
 */
export const defaults = {
  /** Redis holding the queue, the admission ledger and the payload bytes waiting for upload. */
  redisUrl: 'redis://127.0.0.1:6379',
  /** BullMQ queue name. */
  queueName: 'debug-archive',
  /**
   * BullMQ key prefix. The braces are a Redis Cluster hash tag: every key of the queue and of
   * the ledger lands in one slot, which the atomic admission script needs.
   */
  redisPrefix: '{debug-archiver}',
  /** First segment of every object key in the bucket. */
  keyPrefix: 'debug-payloads',
  /** Payloads admitted but not yet archived (waiting, active, retrying or failed), across all producers. */
  maxQueued: 10_000,
  /** JSON bytes admitted but not yet archived, across all producers: the Redis memory the queue may take. */
  maxQueuedBytes: 512 * MiB,
  /** Largest payload accepted, in bytes of its JSON; larger ones are dropped as `payload_too_large`. */
  maxPayloadBytes: 64 * MiB,
  /** Upload attempts per payload before it moves to the failed set (where it still counts against the bounds). */
  attempts: 10,
  /** First retry delay; later ones double, with jitter. 10 attempts span about 17 minutes. */
  backoffDelayMs: 1_000,
  /** Longest an enqueue waits on Redis before it returns `dropped` with `redis_unavailable`. */
  enqueueTimeoutMs: 1_000,
  /**
   * When a bound is reached: `drop-newest` drops the new payload; `drop-oldest` evicts the
   * oldest waiting payload of equal or lesser value (succeeded < unknown < failed); `wait`
   * retries for up to admissionWaitMs first. Whatever the policy, a failed task's payload may
   * evict a succeeded task's.
   */
  admissionPolicy: 'drop-newest',
  /** Redact secrets in the consumer before anything reaches S3. */
  redact: true,
  /**
   * JSON bytes one consumer holds whole for its redaction threads at once: payloads over
   * 120 KiB and up to 16 MiB. Redaction adds little to them, but for a single string (or header
   * list) with something to redact, which is parsed whole (up to about 3x its bytes more). A
   * larger payload is read in steps and does not count, nor does a small one (parsed whole,
   * about 4x its JSON, at most `concurrency` of 120 KiB), nor one with nothing to redact.
   */
  maxRedactingBytes: 128 * MiB,
  /** Redact in the producer instead, so secrets never reach Redis either; costs the task a slower stringify. */
  redactInProducer: false,
  /** With the `wait` policy, how long an enqueue waits for room (at most enqueueTimeoutMs). */
  admissionWaitMs: 250,
  /** Share of succeeded-task payloads kept (1 keeps all); failed and unknown ones are never sampled. */
  successSampleRate: 1,
  /** JSON bytes one producer process may have on their way to Redis at once; more is dropped as `producer_busy`. */
  maxInFlightBytes: 64 * MiB,
  /**
   * Share of a producer process's main-thread time its enqueues may spend serialising and
   * sending payloads, averaged over a second; past it payloads are dropped as `cpu_budget`
   * (failed tasks' last), so archiving cannot take the tasks' event loop whatever the load.
   * 0.3 is about 30 payloads of 1 MB a second on one core. Chosen from the task-worker
   * benchmark (bench/RESULTS.md, benchmark 4: task p99 over no archiving's, and payloads
   * archived, at 30/100/300 tasks at once): 0.25 measured 1.00-1.08x/1.01-1.04x/1.03x keeping
   * 84-94%/21-28%/9%; 0.3 1.01-1.04x/1.00-1.05x/1.03-1.05x keeping 87-97%/31-35%/9-12%; 0.35
   * 1.02-1.04x/1.03x/1.07-1.08x keeping 100%/37-41%/12-14%; 0.5 1.32x at 300. 1 turns the
   * limit off.
   */
  maxCpuShare: 0.3,
  /**
   * Threads that redact the payloads held whole (over 120 KiB, up to 16 MiB), so they use
   * every core and leave the event loop free: the cores. 0 redacts on the event loop. They
   * start with the consumer, never more than `concurrency`, and take about 16 MB each.
   */
  redactionThreads: availableParallelism(),
  /** Payloads archived at once by one consumer process (gzip runs on libuv's thread pool). */
  concurrency: 4,
  /** Sockets the S3 client may open; the SDK's default of 50 queues uploads in memory. */
  maxSockets: 512,
  /**
   * Sign upload bodies over HTTPS (a SHA-256 of every body on the event loop). Off, as other
   * AWS SDKs have it over HTTPS: S3 verifies the body by its signed CRC-32 checksum. For a
   * bucket policy or an S3-compatible service that refuses `UNSIGNED-PAYLOAD`.
   */
  s3SignPayload: false,
  /** zlib level for the gzip layer: 1 is fastest, 9 smallest. */
  gzipLevel: 6,
  /**
   * Blocks of one payload gzip compresses at once on libuv's pool: every core. Lower it when
   * several consumers share a machine; the pool (UV_THREADPOOL_SIZE) also serves DNS and files.
   */
  gzipParallelism: availableParallelism(),
  /** Multipart part size; lib-storage holds about partSize x (queueSize + 1) per upload. */
  partSizeBytes: 8 * MiB,
  /** Parts of one upload in flight at once. */
  uploadQueueSize: 2,
  /** On SIGTERM, how long in-flight uploads may take before they are left for another consumer. */
  drainTimeoutMs: 30_000,
  /** A job's lock; a consumer that dies holding it loses the job to another after this long. */
  lockDurationMs: 30_000,
  /** How often consumers look for jobs whose lock expired (a crashed consumer's). */
  stalledIntervalMs: 30_000,
  /** Region for the S3 client when AWS_REGION is unset (S3-compatible servers ignore it). */
  region: 'us-east-1',
  /** The consumer's HTTP port for /metrics, /healthz and /readyz (0: any free port). */
  metricsPort: 9464,
  /** Address it listens on; all interfaces, so Prometheus can scrape a container. */
  metricsHost: '0.0.0.0',
  /** Encryption at rest of every object: SSE-S3. `aws:kms` uses SSE-KMS; `none` for servers without it. */
  serverSideEncryption: 'AES256',
  /**
   * Serve the bull-board queue UI at `/queues` on the metrics port. Off unless asked for: the UI
   * has no authentication, so it belongs behind a network policy or an authenticating proxy.
   */
  queueUi: false,
  /** Folder the on-demand CPU profiles (`.cpuprofile` files) are written to. */
  profileDir: join(tmpdir(), 'debug-archiver-profiles'),
  /** Seconds an on-demand CPU profile records (SIGUSR2, or the HTTP call without `?seconds`). */
  profileSeconds: 30,
} as const;

const whole = (min: number, max: number) =>
  z.coerce
    .number({ error: 'expected a number' })
    .int({ error: 'expected a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` });

/**
 * A boolean from code, or exactly `true` or `false` from the environment: a typo such as `ture`
 * or `yes` is an error rather than a silent `false`.
 */
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')], {
  error: 'expected true or false',
});

/** A list in code, or comma-separated in the environment. */
const names = z.union([
  z.array(z.string().min(1)),
  z.string().transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0),
  ),
]);

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/./, { error: 'expected a redis:// or rediss:// URL' })
  .refine((value) => URL.canParse(value), { error: 'expected a redis:// or rediss:// URL' });

const name = (what: string) =>
  z
    .string()
    .min(1, { error: `${what} must not be empty` })
    .max(100, { error: `${what} is longer than 100 characters` })
    .regex(/^[\w{}.:-]+$/, { error: `${what} may hold letters, digits and _ . : - { } only` });

const keyPrefix = z
  .string()
  .max(200, { error: 'is longer than 200 characters' })
  .regex(/^[\w.-]+(\/[\w.-]+)*$/, {
    error: 'expected path segments of letters, digits, _ . - separated by single slashes',
  })
  .refine((value) => !value.split('/').some((segment) => segment === '.' || segment === '..'), {
    error: 'must not contain . or .. segments',
  });

/** Settings shared by producers and the consumer. */
export const sharedSchema = z.object({
  redisUrl: redisUrl.default(defaults.redisUrl),
  queueName: name('queue name').default(defaults.queueName),
  redisPrefix: name('redis prefix').default(defaults.redisPrefix),
  keyPrefix: keyPrefix.default(defaults.keyPrefix),
  /** REDIS_URL names one node of a Redis Cluster; the others are discovered from it. */
  redisCluster: flag.default(false),
  /** More names (keys, headers, parameters) to redact besides the built-in ones. */
  redactKeys: names.default([]),
  /** Names never to redact, even when they match a built-in rule. */
  keepKeys: names.default([]),
});

/** Settings of a producer (the task worker's side). */
export const producerSchema = sharedSchema
  .extend({
    maxQueued: whole(1, 10_000_000).default(defaults.maxQueued),
    maxQueuedBytes: whole(1024, Number.MAX_SAFE_INTEGER).default(defaults.maxQueuedBytes),
    maxPayloadBytes: whole(2, 512 * MiB).default(defaults.maxPayloadBytes),
    attempts: whole(1, 100).default(defaults.attempts),
    backoffDelayMs: whole(10, 3_600_000).default(defaults.backoffDelayMs),
    enqueueTimeoutMs: whole(10, 60_000).default(defaults.enqueueTimeoutMs),
    maxInFlightBytes: whole(1024, Number.MAX_SAFE_INTEGER).default(defaults.maxInFlightBytes),
    maxCpuShare: z.coerce
      .number({ error: 'expected a number from 0.01 to 1' })
      .min(0.01, { error: 'must be at least 0.01' })
      .max(1, { error: 'must be at most 1' })
      .default(defaults.maxCpuShare),
    redactInProducer: flag.default(defaults.redactInProducer),
    admissionPolicy: z
      .enum(['drop-newest', 'drop-oldest', 'wait'], { error: 'expected drop-newest, drop-oldest or wait' })
      .default(defaults.admissionPolicy),
    admissionWaitMs: whole(1, 60_000).default(defaults.admissionWaitMs),
    successSampleRate: z.coerce
      .number({ error: 'expected a number from 0 to 1' })
      .min(0, { error: 'must be at least 0' })
      .max(1, { error: 'must be at most 1' })
      .default(defaults.successSampleRate),
  })
  .refine((s) => s.maxPayloadBytes <= s.maxQueuedBytes, {
    error: 'maxPayloadBytes must not exceed maxQueuedBytes',
    path: ['maxPayloadBytes'],
  })
  .refine((s) => s.admissionWaitMs <= s.enqueueTimeoutMs, {
    error: 'admissionWaitMs must not exceed enqueueTimeoutMs',
    path: ['admissionWaitMs'],
  });

/** Settings of the consumer (the `worker` process). */
export const consumerSchema = sharedSchema.extend({
  bucket: z
    .string({ error: 'is required' })
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'expected an S3 bucket name' }),
  s3Endpoint: z
    .string()
    .refine((value) => /^https?:\/\//.test(value) && URL.canParse(value), {
      error: 'expected an http:// or https:// URL',
    })
    .optional(),
  region: z.string().min(1).default(defaults.region),
  concurrency: whole(1, 256).default(defaults.concurrency),
  maxSockets: whole(1, 65_536).default(defaults.maxSockets),
  s3SignPayload: flag.default(defaults.s3SignPayload),
  gzipLevel: whole(1, 9).default(defaults.gzipLevel),
  gzipParallelism: whole(1, 64).default(defaults.gzipParallelism),
  partSizeBytes: whole(5 * MiB, 5 * 1024 * MiB).default(defaults.partSizeBytes),
  uploadQueueSize: whole(1, 16).default(defaults.uploadQueueSize),
  drainTimeoutMs: whole(0, 3_600_000).default(defaults.drainTimeoutMs),
  lockDurationMs: whole(1_000, 600_000).default(defaults.lockDurationMs),
  stalledIntervalMs: whole(1_000, 600_000).default(defaults.stalledIntervalMs),
  /** Undefined (not set in code) serves no HTTP port; the worker process always sets it. */
  metricsPort: whole(0, 65_535).optional(),
  metricsHost: z.string().min(1).default(defaults.metricsHost),
  redact: flag.default(defaults.redact),
  maxRedactingBytes: whole(MiB, 64 * 1024 * MiB).default(defaults.maxRedactingBytes),
  redactionThreads: whole(0, 64).default(defaults.redactionThreads),
  serverSideEncryption: z
    .enum(['AES256', 'aws:kms', 'none'], { error: 'expected AES256, aws:kms or none' })
    .default(defaults.serverSideEncryption),
  /** A KMS key id or ARN; setting it implies SSE-KMS. */
  kmsKeyId: z.string().min(1).optional(),
  /** S3 storage class of new objects (STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, …); the bucket's default when unset. */
  storageClass: z
    .enum(
      ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY'],
      {
        error:
          'expected STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR or REDUCED_REDUNDANCY',
      },
    )
    .optional(),
  /** Read by `debug-archiver worker`; in code, mount the UI through `extendOpsServer` (`mountQueueUi`). */
  queueUi: flag.default(defaults.queueUi),
  profileDir: z.string().min(1).default(defaults.profileDir),
  profileSeconds: whole(1, 300).default(defaults.profileSeconds),
});

export type ProducerSettings = z.output<typeof producerSchema>;
export type ConsumerSettings = z.output<typeof consumerSchema>;

/** The environment variable behind each setting; the one place that names them. */
export const environmentVariables = {
  redisUrl: 'REDIS_URL',
  queueName: 'DEBUG_ARCHIVE_QUEUE',
  redisPrefix: 'DEBUG_ARCHIVE_REDIS_PREFIX',
  keyPrefix: 'DEBUG_ARCHIVE_PREFIX',
  redisCluster: 'DEBUG_ARCHIVE_REDIS_CLUSTER',
  maxQueued: 'DEBUG_ARCHIVE_MAX_QUEUED',
  maxQueuedBytes: 'DEBUG_ARCHIVE_MAX_QUEUED_BYTES',
  maxPayloadBytes: 'DEBUG_ARCHIVE_MAX_PAYLOAD_BYTES',
  attempts: 'DEBUG_ARCHIVE_ATTEMPTS',
  backoffDelayMs: 'DEBUG_ARCHIVE_BACKOFF_DELAY_MS',
  enqueueTimeoutMs: 'DEBUG_ARCHIVE_ENQUEUE_TIMEOUT_MS',
  maxInFlightBytes: 'DEBUG_ARCHIVE_MAX_IN_FLIGHT_BYTES',
  maxCpuShare: 'DEBUG_ARCHIVE_MAX_CPU_SHARE',
  admissionPolicy: 'DEBUG_ARCHIVE_ADMISSION_POLICY',
  redact: 'DEBUG_ARCHIVE_REDACT',
  maxRedactingBytes: 'DEBUG_ARCHIVE_MAX_REDACTING_BYTES',
  redactionThreads: 'DEBUG_ARCHIVE_REDACTION_THREADS',
  redactInProducer: 'DEBUG_ARCHIVE_REDACT_IN_PRODUCER',
  redactKeys: 'DEBUG_ARCHIVE_REDACT_KEYS',
  keepKeys: 'DEBUG_ARCHIVE_KEEP_KEYS',
  admissionWaitMs: 'DEBUG_ARCHIVE_ADMISSION_WAIT_MS',
  successSampleRate: 'DEBUG_ARCHIVE_SUCCESS_SAMPLE_RATE',
  bucket: 'DEBUG_ARCHIVE_BUCKET',
  s3Endpoint: 'S3_ENDPOINT',
  region: 'AWS_REGION',
  concurrency: 'DEBUG_ARCHIVE_CONCURRENCY',
  maxSockets: 'DEBUG_ARCHIVE_MAX_SOCKETS',
  s3SignPayload: 'DEBUG_ARCHIVE_S3_SIGN_PAYLOAD',
  gzipLevel: 'DEBUG_ARCHIVE_GZIP_LEVEL',
  gzipParallelism: 'DEBUG_ARCHIVE_GZIP_PARALLELISM',
  partSizeBytes: 'DEBUG_ARCHIVE_PART_SIZE_BYTES',
  uploadQueueSize: 'DEBUG_ARCHIVE_UPLOAD_QUEUE_SIZE',
  drainTimeoutMs: 'DEBUG_ARCHIVE_DRAIN_TIMEOUT_MS',
  lockDurationMs: 'DEBUG_ARCHIVE_LOCK_DURATION_MS',
  stalledIntervalMs: 'DEBUG_ARCHIVE_STALLED_INTERVAL_MS',
  metricsPort: 'METRICS_PORT',
  metricsHost: 'METRICS_HOST',
  serverSideEncryption: 'DEBUG_ARCHIVE_SSE',
  kmsKeyId: 'DEBUG_ARCHIVE_KMS_KEY_ID',
  storageClass: 'DEBUG_ARCHIVE_STORAGE_CLASS',
  queueUi: 'DEBUG_ARCHIVE_QUEUE_UI',
  profileDir: 'DEBUG_ARCHIVE_PROFILE_DIR',
  profileSeconds: 'DEBUG_ARCHIVE_PROFILE_SECONDS',
} as const satisfies Record<keyof ProducerSettings | keyof ConsumerSettings, string>;

type SettingName = keyof typeof environmentVariables;
type Env = Readonly<Record<string, string | undefined>>;

function describe(error: z.ZodError, source: (field: string) => string): string[] {
  return error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    return `${source(field)}: ${issue.message}`;
  });
}

function parse<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: (field: string) => string,
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigError(describe(result.error, source));
  return result.data;
}

function fromEnv(env: Env, fields: readonly SettingName[]): Record<string, string | undefined> {
  const raw: Record<string, string | undefined> = {};
  for (const field of fields) {
    const value = env[environmentVariables[field]];
    raw[field] = value === undefined || value.trim() === '' ? undefined : value.trim();
  }
  if (raw.region === undefined) raw.region = env.AWS_DEFAULT_REGION?.trim() || undefined;
  return raw;
}

/** Hides the password (or whole user info) of a URL, so a config error never prints a secret. */
export function maskCredentials(value: string): string {
  return value.replace(/^([a-z][a-z\d+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

function envSource(env: Env) {
  return (field: string) => {
    const variable = field in environmentVariables ? environmentVariables[field as SettingName] : field;
    return `${variable}=${JSON.stringify(maskCredentials(env[variable] ?? ''))}`;
  };
}

/** Producer settings from the environment; throws one ConfigError naming every bad variable. */
export function producerSettingsFromEnv(env: Env): ProducerSettings {
  return parse(
    producerSchema,
    fromEnv(env, Object.keys(producerSchema.shape) as SettingName[]),
    envSource(env),
  );
}

/**
 * Consumer settings from the environment; throws one ConfigError naming every bad variable.
 * Unlike in code, the metrics port is on by default (METRICS_PORT, 9464).
 */
export function consumerSettingsFromEnv(env: Env): ConsumerSettings {
  const raw = fromEnv(env, Object.keys(consumerSchema.shape) as SettingName[]);
  raw.metricsPort ??= String(defaults.metricsPort);
  return parse(consumerSchema, raw, envSource(env));
}

/** Validates options passed in code; throws one ConfigError naming every bad option. */
export function resolveProducerSettings(options: Partial<ProducerSettings>): ProducerSettings {
  return parse(producerSchema, options, (field) => `option ${field}`);
}

/** Validates options passed in code; throws one ConfigError naming every bad option. */
export function resolveConsumerSettings(options: Partial<ConsumerSettings>): ConsumerSettings {
  return parse(consumerSchema, options, (field) => `option ${field}`);
}
