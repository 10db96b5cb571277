/** Stable codes of the errors debug-archiver raises. */
export type DebugArchiverErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_META'
  | 'ERR_INVALID_KEY'
  | 'ERR_PAYLOAD_NOT_FOUND'
  | 'ERR_INTEGRITY'
  | 'ERR_CORRUPT_OBJECT'
  | 'ERR_LOCAL_SERVER'
  | 'ERR_S3';

/** Base of every error debug-archiver raises; `code` is stable across versions. */
export class DebugArchiverError extends Error {
  readonly code: DebugArchiverErrorCode;

  constructor(code: DebugArchiverErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Configuration (options or environment) is invalid; `problems` names every bad setting. */
export class ConfigError extends DebugArchiverError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('ERR_INVALID_CONFIG', `invalid debug-archiver configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** `enqueueDebugPayload` was called without a usable `meta` (a programming error in the caller). */
export class InvalidMetaError extends DebugArchiverError {
  constructor(message: string) {
    super('ERR_INVALID_META', message);
  }
}

/** No archived payload exists under the requested key or task id. */
export class PayloadNotFoundError extends DebugArchiverError {
  constructor(message: string) {
    super('ERR_PAYLOAD_NOT_FOUND', message);
  }
}

/** The decoded payload does not match the SHA-256 recorded when it was archived. */
export class IntegrityError extends DebugArchiverError {
  readonly expected: string;
  readonly actual: string;

  constructor(key: string, expected: string, actual: string) {
    super('ERR_INTEGRITY', `payload ${key} is corrupt: expected SHA-256 ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}
