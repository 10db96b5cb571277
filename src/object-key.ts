import { createHash } from 'node:crypto';
import { DebugArchiverError } from './errors.ts';

/**
 * Object keys: `{prefix}/{yyyy-mm-dd}/{integration}/{taskId}/{payloadId}.json.gz.b64`
 *
 * - The date is the UTC day of enqueue, so a day or a day and integration is one prefix listing.
 * - `payloadId` is a UUIDv7 minted at enqueue: keys sort by time and a retried upload overwrites
 *   its own object instead of adding another.
 * - Caller-supplied segments are escaped injectively: letters, digits, `_` and `-` stand as they
 *   are, every other character becomes `%XX` (its UTF-8 bytes) or `%uXXXX` (a lone surrogate), so
 *   no segment holds `/`, `.`, `..` or a control character and two ids never share a key. A
 *   leading `_` is escaped too, keeping `_` free to mean "no integration". Segments longer than
 *   200 characters are cut and end in `~` and a SHA-256 of the whole id.
 */
export const OBJECT_SUFFIX = '.json.gz.b64';

const NO_INTEGRATION = '_';
const MAX_SEGMENT = 200;
const PLAIN = /^[A-Za-z0-9-][\w-]*$/;

export interface ObjectKeyParts {
  keyPrefix: string;
  enqueuedAt: Date;
  integration: string | undefined;
  taskId: string;
  payloadId: string;
}

function hex(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}

/** Escapes one caller-supplied value into a key segment (see the module comment). */
export function encodeKeySegment(raw: string): string {
  let out: string;
  if (PLAIN.test(raw)) {
    out = raw;
  } else {
    out = '';
    for (const char of raw) {
      if (/^[\w-]$/.test(char)) {
        out += char;
        continue;
      }
      const code = char.codePointAt(0) ?? 0;
      if (code >= 0xd800 && code <= 0xdfff) {
        out += `%u${code.toString(16).toUpperCase().padStart(4, '0')}`;
      } else {
        for (const byte of Buffer.from(char, 'utf8')) out += `%${hex(byte)}`;
      }
    }
    if (out.startsWith('_')) out = `%5F${out.slice(1)}`;
  }
  if (out.length <= MAX_SEGMENT) return out;
  const digest = createHash('sha256').update(raw, 'utf16le').digest('hex').slice(0, 32);
  let cut = MAX_SEGMENT - digest.length - 1;
  const lastEscape = out.lastIndexOf('%', cut);
  if (lastEscape > cut - 6) cut = lastEscape;
  return `${out.slice(0, cut)}~${digest}`;
}

/** Inverse of encodeKeySegment; a shortened segment (with `~`) comes back as it stands. */
export function decodeKeySegment(segment: string): string {
  if (!segment.includes('%') || segment.includes('~')) return segment;
  return segment
    .split(/(%u[0-9A-F]{4})/)
    .map((part) =>
      part.startsWith('%u')
        ? String.fromCharCode(Number.parseInt(part.slice(2), 16))
        : decodeURIComponent(part),
    )
    .join('');
}

/** The object key a payload gets; a pure function of its identity. */
export function buildObjectKey(parts: ObjectKeyParts): string {
  const day = parts.enqueuedAt.toISOString().slice(0, 10);
  const integration = parts.integration === undefined ? NO_INTEGRATION : encodeKeySegment(parts.integration);
  return `${parts.keyPrefix}/${day}/${integration}/${encodeKeySegment(parts.taskId)}/${parts.payloadId}${OBJECT_SUFFIX}`;
}

/** What a key says about its payload; the day is the UTC midnight of enqueue. */
export interface ParsedObjectKey {
  keyPrefix: string;
  day: string;
  integration: string | undefined;
  taskId: string;
  payloadId: string;
}

/** Reads a key built by buildObjectKey; throws ERR_INVALID_KEY for anything else. */
export function parseObjectKey(key: string): ParsedObjectKey {
  const match = /^(.+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/([^/]+)\/([0-9a-f-]{36})\.json\.gz\.b64$/.exec(key);
  if (!match)
    throw new DebugArchiverError(
      'ERR_INVALID_KEY',
      `not a debug-archiver object key: ${JSON.stringify(key)}`,
    );
  const [, keyPrefix = '', day = '', integration = '', taskId = '', payloadId = ''] = match;
  return {
    keyPrefix,
    day,
    integration: integration === NO_INTEGRATION ? undefined : decodeKeySegment(integration),
    taskId: decodeKeySegment(taskId),
    payloadId,
  };
}
