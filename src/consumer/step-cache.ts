import type { ByteSource } from '../encoding/json-scanner.ts';
import { readSteps, stepEnd } from '../encoding/steps.ts';

/**
 * A source read in whole steps of `stepBytes`, the last `keep` of them kept: for redacting the
 * stored JSON in steps, where the suspect search reads a little ahead of the walk and both would
 * otherwise read the same bytes from Redis (GETRANGE) each. A read within one step is a view of
 * it (`pieceEnd` tells readers where steps end); one across steps is a copy. A step asked for by
 * two readers at once is read once.
 *
 * Memory: `keep` steps.
 */
export function stepCache(source: ByteSource, stepBytes: number, keep = 3): ByteSource {
  const steps = new Map<number, Promise<Buffer>>();
  const step = (index: number): Promise<Buffer> => {
    const cached = steps.get(index);
    if (cached !== undefined) {
      // Most recently used last: the oldest goes first.
      steps.delete(index);
      steps.set(index, cached);
      return cached;
    }
    const start = index * stepBytes;
    const reading = source.read(start, Math.min(source.length, start + stepBytes));
    // A failed read is not kept: the next reader tries again (and the walk fails with it).
    reading.catch(() => steps.delete(index));
    steps.set(index, reading);
    for (const oldest of steps.keys()) {
      if (steps.size <= keep) break;
      steps.delete(oldest);
    }
    return reading;
  };
  return {
    length: source.length,
    pieceEnd: (position) => stepEnd(position, stepBytes, source.length),
    read: (start, end) => readSteps(start, end, stepBytes, step),
  };
}
