/**
 * The UTF-8 bytes of the concatenation of `pieces`, each encoded straight into one buffer of
 * the right size, without joining them into one string first (6-11x faster for the producer's
 * pieces of a 10-50 MB payload, 1.4x for the consumer's). Every piece must be whole text: a
 * surrogate pair split between two pieces would be encoded as two replacement characters.
 * `allocate` gives the buffer, of exactly the bytes asked for.
 */
export function utf8Concat(pieces: readonly string[], allocate = allocateUnsafe): Buffer {
  let bytes = 0;
  for (const piece of pieces) bytes += Buffer.byteLength(piece, 'utf8');
  const buffer = allocate(bytes);
  let offset = 0;
  for (const piece of pieces) offset += buffer.write(piece, offset, 'utf8');
  return buffer;
}

/** A buffer of `bytes` from Node's allocator, not zero-filled: the default for utf8Concat. */
export function allocateUnsafe(bytes: number): Buffer {
  return Buffer.allocUnsafe(bytes);
}
