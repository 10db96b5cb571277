import type { ByteSource } from '../encoding/json-scanner.ts';

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
    pieceEnd: (position) => Math.min(source.length, (Math.floor(position / stepBytes) + 1) * stepBytes),
    read: async (start, end) => {
      if (end <= start) return Buffer.alloc(0);
      const first = Math.floor(start / stepBytes);
      const last = Math.floor((end - 1) / stepBytes);
      const within = async (index: number): Promise<Buffer> => {
        const offset = index * stepBytes;
        return (await step(index)).subarray(Math.max(0, start - offset), end - offset);
      };
      if (first === last) return within(first);
      const pieces: Buffer[] = [];
      for (let index = first; index <= last; index += 1) pieces.push(await within(index));
      return Buffer.concat(pieces, end - start);
    },
  };
}
