import { createHash, randomUUID } from 'node:crypto';
import { DebugArchiverError } from './errors.ts';

/**
 * Object keys: `{prefix}/{yyyy-mm-dd}/{integration}/{taskId}/{payloadId}.json.gz.b64`
 * Task index: `{prefix}/by-task/{taskId}/{payloadId}.{integration}` (an empty object)
 *
 * - The date is the UTC day of enqueue, so a day or a day and integration is one prefix listing.
 * - `payloadId` is a UUIDv7 minted at enqueue whose timestamp is the enqueue time: keys sort by
 *   time (those one process makes in one millisecond too) and a retried upload overwrites its
 *   own object instead of adding another.
 * - Every payload of a task is one prefix listing of the task index, and each index key says
 *   everything needed to rebuild the object key (the day is in the payload id), so finding a
 *   task's payloads never scans the bucket.
 * - Caller-supplied segments are escaped injectively: letters, digits, `_` and `-` stand as they
 *   are, every other character becomes `%XX` (its UTF-8 bytes) or `%uXXXX` (a lone surrogate), so
 *   no segment holds `/`, `.`, `..` or a control character and two ids never share a key. A
 *   leading `_` is escaped too, keeping `_` free to mean "no integration". Segments longer than
 *   200 characters are cut and end in `~` and a SHA-256 of the whole id.
 */
export const OBJECT_SUFFIX = '.json.gz.b64';

const NO_INTEGRATION = '_';
const TASK_INDEX = 'by-task';
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

function matchObjectKey(key: string): RegExpExecArray {
  const match = /^(.+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/([^/]+)\/([0-9a-f-]{36})\.json\.gz\.b64$/.exec(key);
  if (!match) {
    throw new DebugArchiverError(
      'ERR_INVALID_KEY',
      `not a debug-archiver object key: ${JSON.stringify(key)}`,
    );
  }
  return match;
}

/** Reads a key built by buildObjectKey; throws ERR_INVALID_KEY for anything else. */
export function parseObjectKey(key: string): ParsedObjectKey {
  const [, keyPrefix = '', day = '', integration = '', taskId = '', payloadId = ''] = matchObjectKey(key);
  return {
    keyPrefix,
    day,
    integration: integration === NO_INTEGRATION ? undefined : decodeKeySegment(integration),
    taskId: decodeKeySegment(taskId),
    payloadId,
  };
}

let lastIdMsecs = -1;
let idsThisMsecs = 0;

/**
 * A payload id for an enqueue at `msecs`: a UUID version 7 with the time in its first 48 bits,
 * then (RFC 9562, method 1) a 12-bit counter of the ids this process made in that millisecond,
 * then random bits. So ids sort in the order they were made, and the admission ledger, which
 * orders payloads reserved in the same millisecond by id, evicts the older first (drop-oldest
 * picked among them at random before: a test caught three enqueues in one millisecond). Past 4,096 in one
 * millisecond the counter gives way to random bits. Node's randomUUID draws from a cached pool;
 * uuid's v7 reads the system's random source on every call, about 25 µs of an enqueue's CPU.
 */
export function newPayloadId(msecs: number): string {
  idsThisMsecs = msecs === lastIdMsecs ? idsThisMsecs + 1 : 0;
  lastIdMsecs = msecs;
  const time = msecs.toString(16).padStart(12, '0');
  // randomUUID: xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; its random bits and its variant follow.
  const random = randomUUID();
  const counter = idsThisMsecs <= 0xfff ? idsThisMsecs.toString(16).padStart(3, '0') : random.slice(15, 18);
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${counter}-${random.slice(19)}`;
}

/** Milliseconds since the epoch in a UUIDv7's first 48 bits: the payload's enqueue time. */
export function payloadIdTime(payloadId: string): Date {
  return new Date(Number.parseInt(payloadId.replaceAll('-', '').slice(0, 12), 16));
}

/** Prefix of every object of one day, or of one integration on that day. */
export function dayPrefix(keyPrefix: string, day: string, integration?: string): string {
  const base = `${keyPrefix}/${day}/`;
  return integration === undefined ? base : `${base}${encodeKeySegment(integration)}/`;
}

/** Prefix of the task index entries of one task. */
export function taskIndexPrefix(keyPrefix: string, taskId: string): string {
  return `${keyPrefix}/${TASK_INDEX}/${encodeKeySegment(taskId)}/`;
}

/** The task index entry of an object key. */
export function taskIndexKey(objectKey: string): string {
  const [, keyPrefix = '', , integration = '', task = '', payloadId = ''] = matchObjectKey(objectKey);
  return `${keyPrefix}/${TASK_INDEX}/${task}/${payloadId}.${integration}`;
}

/** The object key a task index entry points to. */
export function objectKeyOfTaskIndex(indexKey: string): string {
  const match = /^(.+)\/by-task\/([^/]+)\/([0-9a-f-]{36})\.([^/.]+)$/.exec(indexKey);
  if (!match)
    throw new DebugArchiverError('ERR_INVALID_KEY', `not a task index key: ${JSON.stringify(indexKey)}`);
  const [, keyPrefix = '', task = '', payloadId = '', integration = ''] = match;
  const day = payloadIdTime(payloadId).toISOString().slice(0, 10);
  return `${keyPrefix}/${day}/${integration}/${task}/${payloadId}${OBJECT_SUFFIX}`;
}
