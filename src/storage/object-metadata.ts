import { encodeKeySegment, decodeKeySegment } from '../object-key.ts';
import { ENCODING_LAYERS, type LayerStats } from '../encoding/layers.ts';

/** What every archived object records about its payload (as S3 user metadata, `x-amz-meta-*`). */
export interface ArchivedPayloadMetadata extends Partial<LayerStats> {
  payloadId: string;
  taskId: string;
  integration: string | undefined;
  enqueuedAt: string;
  /** The layers applied, in order; undone in reverse to get the JSON back. */
  encoding: string;
  /** What redaction did (counts and names, never values), or `off`. */
  redaction?: string;
}

/** The object's Content-Type: the body is base64 text, and no Content-Encoding is set on purpose. */
export const OBJECT_CONTENT_TYPE = 'text/plain; charset=us-ascii';

/** Caller-supplied values are escaped like key segments: S3 metadata must be ASCII. */
export function toS3Metadata(meta: Omit<ArchivedPayloadMetadata, 'encoding'>): Record<string, string> {
  const record: Record<string, string> = {
    'payload-id': meta.payloadId,
    'task-id': encodeKeySegment(meta.taskId),
    'enqueued-at': meta.enqueuedAt,
    encoding: ENCODING_LAYERS,
  };
  if (meta.integration !== undefined) record.integration = encodeKeySegment(meta.integration);
  if (meta.jsonBytes !== undefined) record['json-bytes'] = String(meta.jsonBytes);
  if (meta.gzipBytes !== undefined) record['gzip-bytes'] = String(meta.gzipBytes);
  if (meta.base64Bytes !== undefined) record['base64-bytes'] = String(meta.base64Bytes);
  if (meta.jsonSha256 !== undefined) record['json-sha256'] = meta.jsonSha256;
  if (meta.redaction !== undefined) record.redaction = meta.redaction;
  return record;
}

const count = (value: string | undefined): number | undefined =>
  value === undefined || !/^\d+$/.test(value) ? undefined : Number(value);

export function fromS3Metadata(record: Record<string, string> | undefined): ArchivedPayloadMetadata {
  const value = (name: string): string | undefined => record?.[name];
  const integration = value('integration');
  const metadata: ArchivedPayloadMetadata = {
    payloadId: value('payload-id') ?? '',
    taskId: decodeKeySegment(value('task-id') ?? ''),
    integration: integration === undefined ? undefined : decodeKeySegment(integration),
    enqueuedAt: value('enqueued-at') ?? '',
    encoding: value('encoding') ?? ENCODING_LAYERS,
  };
  const jsonBytes = count(value('json-bytes'));
  const gzipBytes = count(value('gzip-bytes'));
  const base64Bytes = count(value('base64-bytes'));
  const jsonSha256 = value('json-sha256');
  const redaction = value('redaction');
  if (redaction !== undefined) metadata.redaction = redaction;
  if (jsonBytes !== undefined) metadata.jsonBytes = jsonBytes;
  if (gzipBytes !== undefined) metadata.gzipBytes = gzipBytes;
  if (base64Bytes !== undefined) metadata.base64Bytes = base64Bytes;
  if (jsonSha256 !== undefined && /^[0-9a-f]{64}$/.test(jsonSha256)) metadata.jsonSha256 = jsonSha256;
  return metadata;
}
