import { pino } from 'pino';
import { JSON_CHUNK_BYTES } from '../../src/encoding/encode-payload.ts';
import { jsonChunks } from '../../src/encoding/json-chunks.ts';
import type { LayerStats } from '../../src/encoding/layers.ts';

/** A sink that reads the base64 to its end and only counts it: the pipeline's ceiling. */
export async function countingSink(
  source: AsyncIterable<Buffer>,
  stats: () => LayerStats,
): Promise<LayerStats> {
  let bytes = 0;
  for await (const chunk of source) bytes += chunk.length;
  const result = stats();
  if (result.base64Bytes !== bytes) throw new Error('sink and stats disagree');
  return result;
}

/**
 * Runs our stringify stage (jsonChunks at the pipeline's chunk size) to its end; returns the
 * bytes. `knownLength` is the JSON length the consumer passes (that of the JSON it parsed).
 */
export function drainChunks(value: unknown, oneStringChars?: number, knownLength?: number): number {
  let bytes = 0;
  for (const chunk of jsonChunks(value, JSON_CHUNK_BYTES, oneStringChars, knownLength)) bytes += chunk.length;
  return bytes;
}

/** Logs nothing: benchmarks count drops themselves. */
export const silentLogger = pino({ level: 'silent' });

let counter = 0;
/** A BullMQ queue name no other run uses. */
export function uniqueQueue(label: string): string {
  counter += 1;
  return `bench-${label}-${process.pid}-${counter}`;
}

/** Runs `tasks` with at most `lanes` at once; resolves when all are done. */
export async function inLanes(
  count: number,
  lanes: number,
  task: (index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, lane));
}
