import { describe, expect, it } from 'vitest';
import { jsonLengthExceeds } from '../../src/encoding/json-length.ts';
import { jsonPieces, LEAF_CHARS } from '../../src/producer/incremental-json.ts';

const big = 'x'.repeat(LEAF_CHARS + 10);

/** Values whose JSON.stringify has a rule the walk must follow, each inside containers it walks. */
function oddValues(): Record<string, unknown> {
  const withKeyedToJSON = { toJSON: (key: string) => `toJSON got ${key}` };
  const sparse: unknown[] = [1];
  sparse[3] = big;
  return {
    big,
    skipped: undefined,
    fn: () => 1,
    sym: Symbol('s'),
    date: new Date(0),
    boxed: [new Number(3), new String('s'), new Boolean(false)],
    list: [undefined, () => 1, Symbol('t'), null, NaN, -Infinity, -0, big, withKeyedToJSON],
    keyed: { deep: withKeyedToJSON, text: big },
    sparse,
    nested: { a: [[[big]]], empty: [], none: {} },
    map: new Map([[1, 2]]),
    text: 'é🎉\ud800\u2028"\\',
    proxy: new Proxy({ big, q: 1 }, {}),
    ['__proto__']: big,
  };
}

const cases: [name: string, value: unknown][] = [
  ['odd values', oddValues()],
  ['odd values in an array', [oddValues(), oddValues()]],
  ['a top-level toJSON', { toJSON: () => ({ big, n: 1 }) }],
  [
    'many small elements',
    Array.from({ length: 2_000 }, (_, index) => ({ index, text: big.slice(0, index) })),
  ],
  ['a big string', big.repeat(3)],
  ['a number', 42],
  ['null', null],
];

describe('jsonPieces (the producer incremental stringify)', () => {
  it.each(cases)('joins to exactly JSON.stringify for %s', (_name, value) => {
    const pieces = [...jsonPieces(value)];
    expect(pieces.join('')).toBe(JSON.stringify(value));
  });

  it('makes pieces of bounded size from a large document', () => {
    const value = {
      items: Array.from({ length: 2_000 }, (_, index) => ({ index, body: 'b'.repeat(1_000) })),
    };
    const pieces = [...jsonPieces(value)];
    expect(pieces.length).toBeGreaterThan(20);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThanOrEqual(LEAF_CHARS);
  });

  function cyclicInsideBig(): unknown {
    const node: Record<string, unknown> = { big };
    node.child = { big, parent: node };
    return { big, list: [big, node] };
  }

  it.each([
    ['a cycle', cyclicInsideBig()],
    ['a BigInt deep inside', { big, list: [big, { big, amount: 1n }] }],
    [
      'a throwing getter',
      {
        big,
        get broken(): never {
          throw new Error('getter exploded');
        },
      },
    ],
    [
      'a throwing toJSON',
      {
        big,
        list: [
          big,
          {
            toJSON: () => {
              throw new Error('toJSON exploded');
            },
          },
        ],
      },
    ],
    ['undefined', undefined],
    ['a function', () => 1],
  ])('throws where JSON.stringify throws or gives nothing: %s', (_name, value) => {
    expect(() => [...jsonPieces(value)]).toThrow();
  });

  it('estimates lengths with a bounded walk, stopping on cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(jsonLengthExceeds(cyclic, 1_000)).toBe(true);
    expect(jsonLengthExceeds({ text: 'x'.repeat(100) }, 1_000)).toBe(false);
    expect(jsonLengthExceeds({ text: 'x'.repeat(2_000) }, 1_000)).toBe(true);
  });
});
