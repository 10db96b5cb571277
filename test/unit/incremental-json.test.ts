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

/**
 * A long array of small elements of every kind JSON.stringify treats in its own way, with holes,
 * elements whose toJSON is given their index, and elements too big for a run between them.
 */
function mixedElements(): unknown[] {
  const kinds: ((index: number) => unknown)[] = [
    (index) => index,
    (index) => `line ${index} "quoted" \\ é🎉\ud800`,
    () => null,
    () => undefined,
    () => () => 1,
    () => Symbol('s'),
    (index) => new Date(index * 1_000),
    () => [new Number(3), new String('s'), new Boolean(false)],
    (index) => ({ index, nested: [index, { deep: 'x'.repeat(index % 50) }], skipped: undefined }),
    () => NaN,
    (index) => ({ toJSON: (key: string) => `element ${index} under key ${key}` }),
  ];
  const list: unknown[] = [];
  for (let index = 0; index < 5_000; index += 1) {
    if (index % 7 === 3) continue; // a hole
    list[index] = index % 997 === 500 ? big : kinds[index % kinds.length]?.(index);
  }
  list.length = 5_001;
  return list;
}

const cases: [name: string, value: unknown][] = [
  ['odd values', oddValues()],
  ['odd values in an array', [oddValues(), oddValues()]],
  ['a top-level toJSON', { toJSON: () => ({ big, n: 1 }) }],
  [
    'many small elements',
    Array.from({ length: 2_000 }, (_, index) => ({ index, text: big.slice(0, index) })),
  ],
  ['small elements of every kind, in runs and between them', mixedElements()],
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

  it('stringifies a long array of small elements in runs of at most LEAF_CHARS, not one by one', () => {
    const lines: unknown[] = Array.from(
      { length: 20_000 },
      (_, index) => `log line ${index} ${'x'.repeat(index % 200)}`,
    );
    // An element of small strings too big for a run is walked, not made one piece.
    lines[10_000] = Array.from({ length: 2_000 }, () => 'y'.repeat(100));
    const pieces = [...jsonPieces({ big, lines })];
    expect(pieces.join('')).toBe(JSON.stringify({ big, lines }));
    expect(pieces.length).toBeLessThan(lines.length / 100);
    expect(Math.max(...pieces.map((piece) => piece.length))).toBeLessThanOrEqual(LEAF_CHARS + 32);
  });

  it("gives BigInt's toJSON the element's own index in a walked array", () => {
    const prototype = BigInt.prototype as { toJSON?: (key: string) => string };
    prototype.toJSON = function (this: bigint, key: string) {
      return `${String(this)} at ${key}`;
    };
    try {
      const value = [big, 1, 2n, 3, 4n, big, 5n];
      expect([...jsonPieces(value)].join('')).toBe(JSON.stringify(value));
    } finally {
      delete prototype.toJSON;
    }
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
