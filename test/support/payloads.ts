/** A small seeded PRNG (mulberry32), so generated payloads are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * About `chars` characters of text that gzip shrinks only about threefold: words drawn at
 * random from a vocabulary of random words, like logs and HTML with ids in them.
 */
export function wordyText(chars: number, seed: number): string {
  const random = seededRandom(seed);
  const vocabulary = Array.from({ length: 8_192 }, () => {
    const length = 3 + Math.floor(random() * 9);
    let word = '';
    for (let index = 0; index < length; index += 1)
      word += ALPHABET.charAt(Math.floor(random() * ALPHABET.length));
    return word;
  });
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = vocabulary[Math.floor(random() * vocabulary.length)] ?? 'x';
    parts.push(word);
    length += word.length + 1;
  }
  return parts.join(' ').slice(0, chars);
}

/** A record of exactly `jsonBytes` bytes of JSON (ASCII), tagged with `tag` and `index`. */
export function exactSizePayload(
  jsonBytes: number,
  tag: string,
  index: number,
): { tag: string; i: string; pad: string } {
  const base = { tag, i: String(index).padStart(6, '0'), pad: '' };
  const padding = jsonBytes - JSON.stringify(base).length;
  if (padding < 0) throw new Error(`a payload of ${jsonBytes} bytes cannot hold its tag ${tag}`);
  return { ...base, pad: 'p'.repeat(padding) };
}
