/**
 * Which names (object keys, header names, query and form parameters) hold secrets. Names are
 * compared lower-cased with `-` read as `_`, so `X-Api-Key`, `x_api_key` and `X_API-KEY` are
 * one name. A name is sensitive when it equals one of EXACT or contains one of PARTS (as
 * Sentry's scrubber does): `csrftoken`, `x-auth-token`, `sessionid` and `client_secret` are
 * caught without listing each.
 */
const EXACT = ['auth', 'pwd', 'pass', 'bearer', 'jwt', 'otp', 'pin', 'sig', 'signature', 'ssn'];
const PARTS = [
  'authorization',
  'password',
  'passwd',
  'secret',
  'token',
  'api_key',
  'apikey',
  'private_key',
  'credential',
  'cookie',
  'session',
  'csrf',
  'xsrf',
];

export interface NameRules {
  /** More names to redact (exact, after normalising). */
  extra?: readonly string[];
  /** Names never to redact, even when they match (exact, after normalising). */
  keep?: readonly string[];
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replaceAll('-', '_');
}

/** A predicate for sensitive names under the given rules. */
export function sensitiveNameMatcher(rules: NameRules = {}): (name: string) => boolean {
  const exact = new Set([...EXACT, ...(rules.extra ?? []).map(normalizeName)]);
  const keep = new Set((rules.keep ?? []).map(normalizeName));
  const cache = new Map<string, boolean>();
  return (name: string): boolean => {
    let answer = cache.get(name);
    if (answer === undefined) {
      const normal = normalizeName(name);
      answer = !keep.has(normal) && (exact.has(normal) || PARTS.some((part) => normal.includes(part)));
      // Payload keys repeat endlessly; a bounded cache keeps the check O(1) without growing.
      if (cache.size < 10_000) cache.set(name, answer);
    }
    return answer;
  };
}

/** Characters a name may have for `suspectPattern` to find it in raw bytes. */
const PLAIN_NAME = /^[a-z\d_.-]+$/;

/**
 * An alternation of names, as a trie (`a(?:pi[-_]key|uth)`): V8 tries fewer branches at
 * each position than with the names side by side (about 1.2x faster on recorded traffic). `_`
 * matches `-` too, as names are normalised.
 */
function alternation(names: readonly string[]): string {
  const branches = new Map<string, string[]>();
  let whole = false;
  for (const name of new Set(names)) {
    if (name === '') whole = true;
    else branches.set(name.charAt(0), [...(branches.get(name.charAt(0)) ?? []), name.slice(1)]);
  }
  const parts = [...branches].map(([first, rests]) => {
    const head = first === '_' ? '[-_]' : first.replace(/[.\\]/, '\\$&');
    const rest = alternation(rests);
    return rests.length === 1 ? head + rest : `${head}(?:${rest})`;
  });
  if (whole) return parts.length === 0 ? '' : `(?:${parts.join('|')})?`;
  return parts.join('|');
}

/**
 * Patterns over JSON bytes read as latin1 that together find every place a sensitive name
 * could come from: any bytes of JSON in which they find nothing need no redaction under these
 * rules, so they can be passed through without being parsed (src/redaction/redact-stored-json.ts).
 * They err on the side of finding: a name containing one of PARTS anywhere, one of the exact
 * names where a JSON string, a query or a form parameter could start and end, and whatever could
 * spell a name in other letters (a `\u` escape, a percent-encoded letter, digit, `.`, `-` or
 * `_`, and KELVIN SIGN, the one character outside ASCII that lower-cases into it). Undefined
 * when an extra name has other characters: the patterns could miss how they are written.
 *
 * Three patterns searched one after the other rather than one alternation of all three: V8
 * matches each alone much faster than their union, whose first characters it can no longer
 * screen for (10 MB of recorded traffic: 32 ms for the three against 70 ms for the union).
 */
export function suspectPattern(rules: NameRules = {}): SuspectPattern | undefined {
  const extra = (rules.extra ?? []).map(normalizeName);
  if (!extra.every((name) => PLAIN_NAME.test(name))) return undefined;
  const exactNames = [...EXACT, ...extra];
  const spelled = String.raw`\\u|%(?:[46][1-9a-f]|[57][0-9a]|5f|2d|2e|3\d|e2%84%aa)|\xe2\x84\xaa`;
  return {
    patterns: [alternation(PARTS), String.raw`["?&](?:${alternation(exactNames)})["\\=]`, spelled].map(
      (source) => new RegExp(source, 'gi'),
    ),
    longest: Math.max(...[...PARTS, ...exactNames].map((name) => name.length + 2), '%e2%84%aa'.length),
    alternatives: [
      ...PARTS.map((name) => ({ chars: nameChars(name), bucket: PART_BUCKETS[name] ?? 8 })),
      ...exactNames.map((name) => ({
        chars: ['"?&', ...nameChars(name), '"\\='],
        bucket: EXACT_BUCKETS[name.charAt(0)] ?? 13,
      })),
      ...SPELLED.map((chars) => ({ chars, bucket: chars[0] === '%' ? 14 : 15 })),
    ],
  };
}

/** A name's characters as the patterns match them: `_` matches `-` too. */
function nameChars(name: string): string[] {
  return Array.from(name, (char) => (char === '_' ? '-_' : char));
}

/**
 * Buckets of the SIMD filter (src/simd/suspect-search.c), which screens by the first three
 * bytes: alternatives share one where those are alike, as a bucket's tables also pass the
 * mixtures of its alternatives' bytes (`cre` and `coo` together would pass `cro` and `coe`).
 */
const PART_BUCKETS: Partial<Record<string, number>> = {
  authorization: 0,
  api_key: 1,
  apikey: 1,
  password: 2,
  passwd: 2,
  private_key: 3,
  secret: 4,
  session: 4,
  token: 5,
  credential: 6,
  cookie: 7,
  csrf: 8,
  xsrf: 8,
};
/** The exact names (after a quote, `?` or `&`) by first letter; other extra names share bucket 13. */
const EXACT_BUCKETS: Partial<Record<string, number>> = { a: 9, b: 9, j: 10, o: 10, p: 11, s: 12 };

/** The spelled pattern's alternatives, a string of allowed characters per position. */
const SPELLED: readonly (readonly string[])[] = [
  ['\\', 'u'],
  ['%', '46', '123456789abcdef'],
  ['%', '57', '0123456789a'],
  ['%', '5', 'f'],
  ['%', '2', 'd'],
  ['%', '2', 'e'],
  ['%', '3', '0123456789'],
  ['%', 'e', '2', '%', '8', '4', '%', 'a', 'a'],
  ['\xe2', '\x84', '\xaa'],
];

export interface SuspectPattern {
  /** Each global and case-insensitive: reset `lastIndex` before a search. Matches may overlap across them. */
  patterns: readonly RegExp[];
  /** No match is longer. */
  longest: number;
  /**
   * The patterns' alternatives spelled out for the SIMD search (src/redaction/suspect-search.ts):
   * for each, the characters allowed at each position (matched as the patterns' `i` flag
   * matches them), and which of the SIMD filter's 16 buckets it goes in. Every match of the
   * patterns is a match of one of these.
   */
  alternatives: readonly SuspectAlternative[];
}

export interface SuspectAlternative {
  chars: readonly string[];
  bucket: number;
}
