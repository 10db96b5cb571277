import { createHash } from 'node:crypto';

/** The layers of a stored object, in the order they were applied. */
export const ENCODING_LAYERS = 'json,gzip,base64';

/** Byte counts and digest gathered while a payload streams through the layers. */
export interface LayerStats {
  jsonBytes: number;
  gzipBytes: number;
  base64Bytes: number;
  /** Hex SHA-256 of the JSON. */
  jsonSha256: string;
}

/** Counts (and optionally hashes) the bytes that pass; the stage is a pass-through. */
export function tally(onChunk: (chunk: Buffer) => void) {
  return async function* (
    source: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of source) {
      onChunk(chunk);
      yield chunk;
    }
  };
}

/** A running SHA-256 and byte count of everything passed to `update`. */
export function digestCounter() {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  return {
    update(chunk: Buffer): void {
      hash.update(chunk);
      bytes += chunk.length;
    },
    get bytes(): number {
      return bytes;
    },
    /** The digest; the first call ends the hash, later updates are refused by node:crypto. */
    hex(): string {
      digest ??= hash.digest('hex');
      return digest;
    },
  };
}
