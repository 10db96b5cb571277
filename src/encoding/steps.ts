/**
 * A document held in steps of `stepBytes`, each a buffer of its own and all that long but the
 * last (the stored JSON's GETRANGE steps): where steps end, and reads across them. Shared by
 * the sources that hold steps, ArrivingBytes (a redaction thread) and stepCache (the event loop).
 */

/** Where the step holding `position` ends, in a document of `length` bytes. */
export function stepEnd(position: number, stepBytes: number, length: number): number {
  return Math.min(length, (Math.floor(position / stepBytes) + 1) * stepBytes);
}

/**
 * Bytes [start, end) of the document: a view of the step that holds them when one does, else a
 * copy joined from each step's part. `step(index)` gives step `index` (start `index * stepBytes`).
 */
export async function readSteps(
  start: number,
  end: number,
  stepBytes: number,
  step: (index: number) => Buffer | Promise<Buffer>,
): Promise<Buffer> {
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
}
