import { isBoxedPrimitive } from 'node:util/types';
import { isRawJson, jsonLengthExceeds } from '../encoding/json-length.ts';

/**
 * Incremental `JSON.stringify` for the producer: the same text, made as a sequence of pieces so
 * the caller can let the event loop turn between them. Any value `JSON.stringify` accepts is
 * accepted (toJSON with its key, Dates, undefined and functions skipped in objects and `null`
 * in arrays, boxed primitives, Proxies, getters), and whatever makes `JSON.stringify` throw
 * (a cycle, a BigInt, a throwing getter or toJSON) throws here too. No replacer: a producer
 * that redacts stringifies in one go.
 *
 * Only containers too big to be one piece are walked here; everything else, and everything
 * deeper than `WALK_DEPTH`, is one native `JSON.stringify` call. So a piece is at most about
 * `LEAF_CHARS` long, unless one string or a container below `WALK_DEPTH` is bigger.
 */

/** Containers whose JSON is estimated at or under this many characters are one piece. */
export const LEAF_CHARS = 64 * 1024;
/** How deep containers are walked before the rest of a subtree is one piece. */
const WALK_DEPTH = 16;

/** The value `JSON.stringify` serialises for `value` under `key`: after toJSON. */
function resolve(value: unknown, key: string): unknown {
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return (toJSON as (key: string) => unknown).call(value, key);
  }
  return value;
}

/** Values `JSON.stringify` leaves out of objects (and turns into `null` in arrays). */
function isOmitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

function isWalkable(value: unknown, depth: number): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    depth < WALK_DEPTH &&
    !isBoxedPrimitive(value) &&
    !isRawJson(value) &&
    jsonLengthExceeds(value, LEAF_CHARS)
  );
}

function leaf(value: unknown): string {
  const text: unknown = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError('value has no JSON representation');
  return text;
}

/** `value` is resolved already and not omitted. */
function* serialize(
  value: unknown,
  depth: number,
  ancestors: Set<object>,
): Generator<string, void, undefined> {
  if (!isWalkable(value, depth)) {
    yield leaf(value);
    return;
  }
  if (ancestors.has(value)) throw new TypeError('Converting circular structure to JSON');
  ancestors.add(value);
  if (Array.isArray(value)) {
    const list = value as unknown[];
    const length = list.length;
    for (let index = 0; index < length; index += 1) {
      const element = resolve(list[index], String(index));
      yield index === 0 ? '[' : ',';
      if (isOmitted(element)) yield 'null';
      else yield* serialize(element, depth + 1, ancestors);
    }
    yield length === 0 ? '[]' : ']';
  } else {
    const record = value as Record<string, unknown>;
    let separator = '{';
    for (const key of Object.keys(record)) {
      const member = resolve(record[key], key);
      if (isOmitted(member)) continue;
      yield `${separator}${JSON.stringify(key)}:`;
      separator = ',';
      yield* serialize(member, depth + 1, ancestors);
    }
    yield separator === '{' ? '{}' : '}';
  }
  ancestors.delete(value);
}

/**
 * The JSON text of `value` in pieces whose concatenation is exactly `JSON.stringify(value)`.
 * Throws where `JSON.stringify` throws, and a TypeError where it returns undefined.
 */
export function* jsonPieces(value: unknown): Generator<string, void, undefined> {
  const root = resolve(value, '');
  if (isOmitted(root)) throw new TypeError('value has no JSON representation');
  yield* serialize(root, 0, new Set());
}
