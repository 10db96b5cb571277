/**
 * The UTF-8 bytes of the concatenation of `pieces`, each encoded straight into one buffer of
 * the right size, without joining them into one string first (6-11x faster for the producer's
 * pieces of a 10-50 MB payload, 1.4x for the consumer's). Every piece must be whole text: a
 * surrogate pair split between two pieces would be encoded as two replacement characters.
 */
export function utf8Concat(pieces: readonly string[]): Buffer {
  let bytes = 0;
  for (const piece of pieces) bytes += Buffer.byteLength(piece, 'utf8');
  const buffer = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (const piece of pieces) offset += buffer.write(piece, offset, 'utf8');
  return buffer;
}
