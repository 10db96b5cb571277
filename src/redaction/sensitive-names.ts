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
