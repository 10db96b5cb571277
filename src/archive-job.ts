/** BullMQ job name of an archive job. */
export const ARCHIVE_JOB_NAME = 'archive';

/**
 * What a BullMQ job carries: the payload's identity, never its bytes (those wait in the
 * admission ledger), so job data and BullMQ's events stream stay small.
 */
export interface ArchiveJobData {
  payloadId: string;
  key: string;
  taskId: string;
  integration?: string;
  /** ISO 8601 time of enqueue. */
  enqueuedAt: string;
  /** Bytes of the payload's JSON. */
  jsonBytes: number;
  /** How the task ended, when the producer said; tags the object for lifecycle rules. */
  outcome?: 'failed' | 'succeeded';
  /** Set when the producer redacted the payload already: the summary for the object's metadata. */
  redaction?: string;
}

/** A job's return value: sizes only, so completed events stay small. */
export interface ArchiveJobResult {
  key: string;
  jsonBytes: number;
  gzipBytes: number;
  base64Bytes: number;
  /** True when the object was found already archived by an earlier attempt. */
  alreadyArchived?: boolean;
  /** True when the payload was evicted from the queue before it could be archived. */
  evicted?: boolean;
}
