import { describe, expect, it, vi } from 'vitest';
import { createPrng } from '../../src/demo/prng.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { suspectPattern, type NameRules, type SuspectPattern } from '../../src/redaction/sensitive-names.ts';
import { suspectSearch } from '../../src/redaction/suspect-search.ts';

/** Pieces that make up names, spellings and near misses, glued at random. */
const PIECES = [
  ...['token', 'TOKEN', 'Api-Key', 'api_key', 'apikey', 'authorization', 'AUTH', 'passwd', 'pass', 'pay'],
  ...['"pin"', '?PIN=', '&sig\\', '"signature"', '"ssn"', 'otp=', 'jwt"', 'bearer', 'pwd', 'credit'],
  ...[
    '%41',
    '%2D',
    '%2e',
    '%5F',
    '%39',
    '%7a',
    '%e2%84%AA',
    '\\u004b',
    '\\U',
    '\xe2\x84\xaa',
    '\xc2\x84\xaa',
  ],
  ...['co', 'okie', 'sess', 'ion', 'csrf', 'XSRF', 'secret', 'credential', 'private-key', 'x.trace', 'acct'],
  ...['x', ' ', '"', '%', '\\', '&', '?', '=', '_', '-', '\u00e9', '\u00ff'],
];

/** The patterns' own matches in `text` starting before `to`, as the search by patterns finds them. */
function patternMatches(pattern: SuspectPattern, text: string, to: number): [number, number][] {
  const found: [number, number][] = [];
  for (const regex of pattern.patterns) {
    regex.lastIndex = 0;
    for (let match = regex.exec(text); match !== null && match.index < to; match = regex.exec(text)) {
      found.push([match.index, match.index + match[0].length]);
    }
  }
  return found;
}

/** Whether an alternative of the pattern matches exactly `text`, with the patterns' case folding. */
function isAlternative(pattern: SuspectPattern, text: string): boolean {
  return pattern.alternatives.some(
    ({ chars }) =>
      chars.length === text.length &&
      chars.every((allowed, index) =>
        new RegExp(
          `[${Array.from(allowed, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}]`,
          'i',
        ).test(text.charAt(index)),
      ),
  );
}

function expectCovers(pattern: SuspectPattern, bytes: Buffer, to: number): number {
  const search = suspectSearch(pattern);
  if (search === undefined) throw new Error('no SIMD search here');
  const found = search.find(bytes, to);
  const ends = new Map<number, number>();
  for (let index = 0; index < found.length; index += 2) ends.set(found[index] ?? -1, found[index + 1] ?? -1);
  const text = bytes.toString('latin1');
  for (const [start, end] of patternMatches(pattern, text, to)) {
    const context = { text: text.slice(Math.max(0, start - 8), end + 8), start, end };
    expect({ ...context, covered: (ends.get(start) ?? -1) >= end }).toEqual({ ...context, covered: true });
  }
  for (const [start, end] of ends) {
    expect(start).toBeLessThan(to);
    expect({ match: text.slice(start, end), real: isAlternative(pattern, text.slice(start, end)) }).toEqual({
      match: text.slice(start, end),
      real: true,
    });
  }
  return ends.size;
}

const RULES: [string, NameRules][] = [
  ['the default names', {}],
  ['extra names', { extra: ['x-trace.id', 'acct', 'Customer_No'] }],
];

describe('the SIMD suspect search', () => {
  it.each(RULES)('finds every match of the patterns, and nothing else, in random text (%s)', (_, rules) => {
    const pattern = suspectPattern(rules);
    if (pattern === undefined) throw new Error('no pattern');
    const prng = createPrng(5);
    for (let round = 0; round < 4000; round += 1) {
      let text = '';
      const pieces = prng.int(0, 30);
      for (let piece = 0; piece < pieces; piece += 1) text += prng.pick(PIECES);
      const bytes = Buffer.from(text, 'latin1');
      expectCovers(pattern, bytes, prng.int(0, bytes.length));
    }
  });

  it('finds what the patterns find in recorded traffic, window by window', () => {
    const pattern = suspectPattern();
    if (pattern === undefined) throw new Error('no pattern');
    const json = Buffer.from(JSON.stringify(samplePayload({ seed: 9, targetBytes: 600_000 })));
    let found = 0;
    for (let from = 0; from < json.length; from += 64 * 1024) {
      const window = json.subarray(from, Math.min(json.length, from + 64 * 1024 + pattern.longest - 1));
      found += expectCovers(pattern, window, Math.min(64 * 1024, json.length - from));
    }
    expect(found).toBeGreaterThan(5);
  });

  it('is not there where WebAssembly is not (node --jitless): the patterns search instead', async () => {
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    try {
      const fresh = await import('../../src/redaction/suspect-search.ts');
      const names = await import('../../src/redaction/sensitive-names.ts');
      const pattern = names.suspectPattern();
      expect(pattern).toBeDefined();
      if (pattern !== undefined) expect(fresh.suspectSearch(pattern)).toBeUndefined();
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
