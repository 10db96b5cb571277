import type { ByteSource } from './json-scanner.ts';
import { readSteps, stepEnd } from './steps.ts';

/**
 * A source read in whole steps of `stepBytes`, the last `keep` of them kept: for redacting the
 * stored JSON in steps, where the suspect search reads a little ahead of the walk and both would
 * otherwise read the same bytes (a GETRANGE from Redis, or a step asked of the main thread) each.
 * A read within one step is a view of it (`pieceEnd` tells readers where steps end); one across
 * steps is a copy. A step asked for by two readers at once is read once. With `ahead`, reading a
 * step starts reading that many after it too, so the next is on its way while this one is
 * redacted.
 *
 * Memory: `keep` + `ahead` steps.
 */
export function stepCache(source: ByteSource, stepBytes: number, keep = 3, ahead = 0): ByteSource {
  const steps = new Map<number, Promise<Buffer>>();
  const stepCount = Math.ceil(source.length / stepBytes);
  const fetch = (index: number): Promise<Buffer> => {
    const offset = index * stepBytes;
    const reading = source.read(offset, Math.min(source.length, offset + stepBytes));
    // A failed read is not kept: the next reader tries again (and the walk fails with it).
    reading.catch(() => {
      if (steps.get(index) === reading) steps.delete(index);
    });
    steps.set(index, reading);
    return reading;
  };
  const step = (index: number): Promise<Buffer> => {
    const cached = steps.get(index);
    if (cached !== undefined) {
      // Most recently used last: the oldest goes first.
      steps.delete(index);
      steps.set(index, cached);
      return cached;
    }
    const reading = fetch(index);
    for (let next = index + 1; next <= index + ahead && next < stepCount; next += 1) {
      // A step read ahead that fails is read again by the reader that asks for it.
      if (!steps.has(next)) fetch(next).catch(() => undefined);
    }
    for (const oldest of steps.keys()) {
      if (steps.size <= keep + ahead) break;
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
