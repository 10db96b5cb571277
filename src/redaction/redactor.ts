import { isJsonSpace } from '../encoding/json-scanner.ts';
import {
  normalizeName,
  sensitiveNameMatcher,
  suspectPattern,
  type NameRules,
  type SuspectPattern,
} from './sensitive-names.ts';

/** What replaces a secret. In URLs and form bodies it is `REDACTED`, which needs no escaping. */
export const REDACTED = '[REDACTED]';
const REDACTED_PARAM = 'REDACTED';

/** JSON bodies longer than this are left as they are: parsing them would cost too much. */
const MAX_JSON_BODY_CHARS = 16 * 1024 * 1024;
/** JSON inside a string inside JSON inside a string… is followed this deep. */
const MAX_EMBEDDED_DEPTH = 3;
/** Names kept in the summary; the counts are always complete. */
const MAX_SUMMARY_NAMES = 32;

export type RedactionRule = 'key' | 'header' | 'query' | 'form' | 'json_body';

/** What was redacted (never the values): counts by rule and the names that matched. */
export interface RedactionSummary {
  total: number;
  byRule: Record<RedactionRule, number>;
  names: string[];
}

/**
 * One document redacted piece by piece, as `redactInPlace` would redact it whole: the caller
 * walks the document's structure itself (src/redaction/redact-stored-json.ts) and hands over
 * the values it meets. What `redactInPlace` decides from a value's parent is asked here.
 */
export interface RedactionPieces {
  /** Whether an object key is sensitive: every leaf under it is redacted. */
  isSensitive(name: string): boolean;
  /** Whether an array under this key is a header list, redacted as a whole. */
  isHeaderList(key: string | number | undefined): boolean;
  /**
   * Redacts, in place, a value met at `path` (its keys from the root, innermost first);
   * `sensitiveKey` is the nearest sensitive key above it, if any. `changed` is false only when
   * its JSON is the same.
   */
  value(value: unknown, path: RedactionPath, sensitiveKey?: string): { value: unknown; changed: boolean };
  /**
   * Finds, in JSON bytes, every place redaction could change anything: bytes where it finds
   * nothing are left as they are (under no sensitive key). Undefined: anything could change.
   */
  readonly suspects: SuspectPattern | undefined;
  /** Counts the value of a `{ name, value }` entry with a sensitive name, replaced by the caller. */
  entry(name: string): void;
  summary(): RedactionSummary;
}

export interface RedactionOptions extends NameRules {
  /** Last word on every string: return it changed to redact more. Runs after the built-in rules. */
  custom?: (value: string, path: readonly (string | number)[]) => string;
}

const URL_LIKE = /^(?:[a-z][a-z\d+.-]*:\/\/|\/)[^\s]*\?/i;
const FORM_BODY = /^[\w.%+~*-]+=[^&\s]*(?:&[\w.%+~*-]+=[^&\s]*)*$/;
const HEADER_LISTS = new Set(['headers', 'rawheaders', 'raw_headers', 'header']);

/** Whether an array under this key (an object key, not an index) is a header list. */
function isHeaderListKey(key: string | number | undefined): boolean {
  return typeof key === 'string' && HEADER_LISTS.has(normalizeName(key));
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

type Container = Record<string, unknown> | unknown[];

/** Where a value sits, as a linked list: deep documents must not copy a path per node. */
interface PathNode {
  readonly parent: RedactionPath;
  readonly key: string | number;
}
/** A value's keys from the root, innermost first; undefined at the root. */
export type RedactionPath = PathNode | undefined;

function pathArray(path: RedactionPath): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let node = path; node !== undefined; node = node.parent) keys.push(node.key);
  return keys.reverse();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Redacts secrets in recorded traffic: values under sensitive keys (in objects, HAR-style
 * `{ name, value }` entries and header lists), sensitive parameters in URL query strings and
 * form bodies, and all of that inside string bodies that hold JSON. Keys and shapes stay, so a
 * replay still makes sense; strings with nothing to redact stay byte-for-byte.
 *
 * Walks iteratively (no recursion limit) and never throws on odd input: a string that is not
 * JSON is just a string. One instance is cheap to reuse; its summary accumulates per `run`.
 */
export class Redactor {
  readonly #isSensitive: (name: string) => boolean;
  readonly #custom: RedactionOptions['custom'];
  /** A custom function may change any string. */
  readonly #suspects: SuspectPattern | undefined;
  #summary: RedactionSummary = Redactor.#emptySummary();

  constructor(options: RedactionOptions = {}) {
    this.#isSensitive = sensitiveNameMatcher(options);
    this.#custom = options.custom;
    this.#suspects = options.custom === undefined ? suspectPattern(options) : undefined;
  }

  static #emptySummary(): RedactionSummary {
    return { total: 0, byRule: { key: 0, header: 0, query: 0, form: 0, json_body: 0 }, names: [] };
  }

  /** Redacts JSON data (as JSON.parse returns it) in place; returns the value and the summary. */
  redactInPlace<T>(value: T): { value: T; summary: RedactionSummary } {
    this.#summary = Redactor.#emptySummary();
    const redacted = this.#walk(value, undefined, 0) as T;
    return { value: redacted, summary: this.#summary };
  }

  /**
   * A `JSON.stringify` replacer doing the same without touching the caller's objects, for
   * redaction in the producer. `summary()` afterwards tells what it did.
   */
  replacer(): (this: unknown, key: string, value: unknown) => unknown {
    this.#summary = Redactor.#emptySummary();
    const isSensitive = this.#isSensitive;
    const leaves = (value: unknown, key: string): unknown =>
      this.#leaves(structuredCloneJson(value), key, 'key');
    const string = (value: string, key: string): string => this.#string(value, { parent: undefined, key }, 0);
    const count = (name: string): void => {
      this.#count('header', name);
    };
    const headerList = (list: unknown[]): boolean => this.#headerList(list);
    return function (this: unknown, key: string, value: unknown): unknown {
      if (key !== '' && !Array.isArray(this) && isSensitive(key)) return leaves(value, key);
      if (typeof value === 'string') return string(value, key);
      if (isRecord(value) && typeof value.name === 'string' && 'value' in value && isSensitive(value.name)) {
        count(value.name);
        return { ...value, value: REDACTED };
      }
      if (Array.isArray(value) && isHeaderListKey(key)) {
        const copy = [...(value as unknown[])];
        return headerList(copy) ? copy : value;
      }
      return value;
    };
  }

  /**
   * Starts redacting one document in pieces, with a summary of its own: documents redacted in
   * pieces at once (an archive's walk waits for gzip between pieces) share this Redactor, so
   * each piece's work counts into its own document's summary.
   */
  pieces(): RedactionPieces {
    const summary = Redactor.#emptySummary();
    // Each call is synchronous: no other document's piece can run while the summary is swapped in.
    const counting = <T>(work: () => T): T => {
      this.#summary = summary;
      return work();
    };
    return {
      isSensitive: (name) => this.#isSensitive(name),
      isHeaderList: isHeaderListKey,
      value: (value, path, sensitiveKey) =>
        counting(() => {
          const before = summary.total;
          const redacted =
            sensitiveKey === undefined
              ? this.#walk(value, path, 0)
              : this.#leaves(value, sensitiveKey, 'key');
          // The custom hook may change strings without counting them: a container it saw may
          // have changed, a string only if it is not the same string.
          const custom =
            this.#custom !== undefined &&
            sensitiveKey === undefined &&
            ((typeof value === 'object' && value !== null) ||
              (typeof value === 'string' && redacted !== value));
          return { value: redacted, changed: custom || summary.total !== before };
        }),
      suspects: this.#suspects,
      entry: (name) => {
        counting(() => {
          this.#count('header', name);
        });
      },
      summary: () => summary,
    };
  }

  summary(): RedactionSummary {
    return this.#summary;
  }

  #count(rule: RedactionRule, name: string): void {
    this.#summary.total += 1;
    this.#summary.byRule[rule] += 1;
    const normal = normalizeName(name);
    if (this.#summary.names.length < MAX_SUMMARY_NAMES && !this.#summary.names.includes(normal)) {
      this.#summary.names.push(normal);
    }
  }

  /** Walks `root`, rewriting in place; strings are replaced through their parent. */
  #walk(root: unknown, rootPath: RedactionPath, depth: number): unknown {
    if (typeof root === 'string') return this.#string(root, rootPath, depth);
    if (typeof root !== 'object' || root === null) return root;
    const stack: { node: Container; path: RedactionPath }[] = [{ node: root as Container, path: rootPath }];
    while (stack.length > 0) {
      const { node, path } = stack.pop() as { node: Container; path: RedactionPath };
      if (Array.isArray(node)) {
        if (isHeaderListKey(path?.key)) this.#headerList(node);
        for (let index = 0; index < node.length; index += 1) {
          const child = node[index];
          if (typeof child === 'string')
            node[index] = this.#string(child, { parent: path, key: index }, depth);
          else if (typeof child === 'object' && child !== null) {
            stack.push({ node: child as Container, path: { parent: path, key: index } });
          }
        }
        continue;
      }
      if (
        typeof node.name === 'string' &&
        'value' in node &&
        this.#isSensitive(node.name) &&
        node.value !== REDACTED
      ) {
        node.value = REDACTED;
        this.#count('header', node.name);
      }
      for (const key of Object.keys(node)) {
        const child = node[key];
        if (this.#isSensitive(key)) {
          node[key] = this.#leaves(child, key, 'key');
        } else if (typeof child === 'string') {
          node[key] = this.#string(child, { parent: path, key }, depth);
        } else if (typeof child === 'object' && child !== null) {
          stack.push({ node: child as Container, path: { parent: path, key } });
        }
      }
    }
    return root;
  }

  /** Every string and number under a sensitive key becomes REDACTED; keys, nulls and booleans stay. */
  #leaves(value: unknown, name: string, rule: RedactionRule): unknown {
    if (typeof value === 'string' || typeof value === 'number') {
      if (value === REDACTED) return value;
      this.#count(rule, name);
      return REDACTED;
    }
    if (typeof value !== 'object' || value === null) return value;
    const stack: Container[] = [value as Container];
    while (stack.length > 0) {
      const node = stack.pop() as Container;
      const keys = Array.isArray(node) ? node.map((_, index) => index) : Object.keys(node);
      for (const key of keys) {
        const child = (node as Record<string | number, unknown>)[key];
        if ((typeof child === 'string' && child !== REDACTED) || typeof child === 'number') {
          (node as Record<string | number, unknown>)[key] = REDACTED;
          this.#count(rule, name);
        } else if (typeof child === 'object' && child !== null) {
          stack.push(child as Container);
        }
      }
    }
    return value;
  }

  /** `[name, value, name, value]` (Node's rawHeaders) or `[[name, value], …]`; true when it changed. */
  #headerList(list: unknown[]): boolean {
    let changed = false;
    const flat = list.length % 2 === 0 && list.every((entry) => typeof entry === 'string');
    for (let index = 0; index < list.length; index += 1) {
      const entry = list[index];
      if (
        flat &&
        index % 2 === 0 &&
        typeof entry === 'string' &&
        this.#isSensitive(entry) &&
        list[index + 1] !== REDACTED
      ) {
        list[index + 1] = REDACTED;
        this.#count('header', entry);
        changed = true;
      } else if (
        Array.isArray(entry) &&
        entry.length === 2 &&
        typeof entry[0] === 'string' &&
        this.#isSensitive(entry[0])
      ) {
        if (entry[1] !== REDACTED) {
          list[index] = [entry[0], REDACTED];
          this.#count('header', entry[0]);
          changed = true;
        }
      }
    }
    return changed;
  }

  #string(text: string, path: RedactionPath, depth: number): string {
    let result = text;
    if (URL_LIKE.test(text)) {
      const queryStart = text.indexOf('?');
      const hash = text.indexOf('#', queryStart);
      const queryEnd = hash === -1 ? text.length : hash;
      result =
        text.slice(0, queryStart + 1) +
        this.#params(text.slice(queryStart + 1, queryEnd), 'query') +
        text.slice(queryEnd);
    } else if (text.length < MAX_JSON_BODY_CHARS && FORM_BODY.test(text)) {
      result = this.#params(text, 'form');
    } else if (depth < MAX_EMBEDDED_DEPTH && text.length < MAX_JSON_BODY_CHARS && mayBeJsonContainer(text)) {
      result = this.#jsonBody(text, path, depth);
    }
    return this.#custom ? this.#custom(result, pathArray(path)) : result;
  }

  #params(query: string, rule: RedactionRule): string {
    const parts = query.split('&');
    let changed = false;
    for (let index = 0; index < parts.length; index += 1) {
      const part = parts[index] ?? '';
      const equals = part.indexOf('=');
      if (equals <= 0) continue;
      const name = decodeName(part.slice(0, equals));
      if (!this.#isSensitive(name) || part.slice(equals + 1) === REDACTED_PARAM) continue;
      parts[index] = `${part.slice(0, equals)}=${REDACTED_PARAM}`;
      this.#count(rule, name);
      changed = true;
    }
    return changed ? parts.join('&') : query;
  }

  #jsonBody(text: string, path: RedactionPath, depth: number): string {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return text;
    }
    const before = this.#summary.total;
    const redacted = this.#walk(parsed, path, depth + 1);
    if (this.#summary.total === before) return text;
    this.#summary.byRule.json_body += 1;
    return JSON.stringify(redacted);
  }
}

/**
 * Whether `text` could be a JSON object or array: `[` … `]` or `{` … `}` inside JSON
 * whitespace. Anything else would only make JSON.parse throw, and a throw costs about as much
 * as redacting a few hundred strings: log lines such as `[INFO] …` and REDACTED itself.
 */
function mayBeJsonContainer(text: string): boolean {
  let first = 0;
  while (first < text.length && isJsonSpace(text.charCodeAt(first))) first += 1;
  let last = text.length - 1;
  while (last > first && isJsonSpace(text.charCodeAt(last))) last -= 1;
  const open = text.charCodeAt(first);
  const close = text.charCodeAt(last);
  return (
    text !== REDACTED &&
    last > first &&
    ((open === 0x5b && close === 0x5d) || (open === 0x7b && close === 0x7d))
  );
}

/** A plain-data copy, so the replacer never writes into the caller's objects. */
function structuredCloneJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** The summary as one ASCII line for object metadata, e.g. `total=3 key=2 query=1 names=password,token`. */
export function formatRedactionSummary(summary: RedactionSummary): string {
  const rules = Object.entries(summary.byRule)
    .filter(([, count]) => count > 0)
    .map(([rule, count]) => `${rule}=${count}`);
  const names = summary.names
    .map((name) => name.replaceAll(/[^\w.-]/g, '?'))
    .sort()
    .join(',');
  return [`total=${summary.total}`, ...rules, ...(names === '' ? [] : [`names=${names}`])]
    .join(' ')
    .slice(0, 1024);
}
