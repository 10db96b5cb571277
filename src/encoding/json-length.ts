import { isBoxedPrimitive } from 'node:util/types';

interface RawJsonAware {
  isRawJSON?: (value: unknown) => boolean;
}
export const isRawJson = (JSON as RawJsonAware).isRawJSON ?? (() => false);

/**
 * About how many characters the JSON of `root` has: string lengths, key lengths and a few
 * characters per other node, counted until `limit` is passed (the count so far is returned
 * then, over `limit`), so the cost is bounded by `limit` whatever the size of `root`. A
 * heuristic (escapes and number digits are not counted exactly) used only to choose how to
 * stringify, never to enforce a bound. It reads properties as `JSON.stringify` does (getters
 * run), calls no toJSON, and stops on cycles since every node adds to the count.
 */
export function jsonLengthEstimate(root: unknown, limit: number): number {
  let size = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') {
      size += node.length + 2;
    } else if (typeof node !== 'object' || node === null) {
      size += 6;
    } else if (
      typeof (node as { toJSON?: unknown }).toJSON === 'function' ||
      isBoxedPrimitive(node) ||
      isRawJson(node)
    ) {
      size += 32;
    } else if (Array.isArray(node)) {
      const list = node as unknown[];
      size += list.length + 2;
      for (let index = 0; index < list.length; index += 1) stack.push(list[index]);
    } else {
      const record = node as Record<string, unknown>;
      size += 2;
      for (const key of Object.keys(record)) {
        size += key.length + 4;
        stack.push(record[key]);
      }
    }
    if (size > limit) return size;
  }
  return size;
}

/** True when the JSON of `root` is probably over `limit` characters (jsonLengthEstimate). */
export function jsonLengthExceeds(root: unknown, limit: number): boolean {
  return jsonLengthEstimate(root, limit) > limit;
}
