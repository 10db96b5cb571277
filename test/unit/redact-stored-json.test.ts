import { describe, expect, it, vi } from 'vitest';
import { bufferSource, MalformedJsonError } from '../../src/encoding/json-scanner.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { redactStoredJson } from '../../src/redaction/redact-stored-json.ts';
import {
  formatRedactionSummary,
  REDACTED,
  Redactor,
  type RedactionOptions,
} from '../../src/redaction/redactor.ts';

const bigBody = '<div class="row">\\"quoted\\" \u2028 é 🎉 \\\\ </div>\n'.repeat(400);

/** Recorded traffic with every rule, and values large enough to be opened at small unit sizes. */
const documents: [string, unknown][] = [
  [
    'recorded exchanges',
    {
      task: { id: 't-1', user: 'alice' },
      exchanges: [
        {
          request: {
            method: 'POST',
            url: 'https://bank.example/api/login?client_id=app&access_token=abc123&page=2#frag',
            headers: {
              Authorization: 'Bearer x.y.z',
              'Content-Type': 'application/json',
              'X-Api-Key': 'k-1',
            },
            body: '{"username":"alice","password":"hunter2","nested":{"refresh_token":"r-1"}}',
          },
          response: {
            status: 200,
            headers: [
              { name: 'Set-Cookie', value: 'sid=s3cr3t; HttpOnly' },
              { value: bigBody, name: 'Authorization' },
              { value: REDACTED, name: 'Cookie' },
              { name: 'Content-Length', value: '42' },
            ],
            rawHeaders: ['Set-Cookie', 'a=b', 'Server', 'nginx', 'X-Filler', bigBody],
            pairs: [
              ['Cookie', 'c=d'],
              ['Accept', 'text/html'],
            ],
            body: bigBody,
          },
        },
        { entry: { name: 'session', value: { nested: [1, 'two', { three: 3 }], filler: bigBody } } },
        { form: 'grant_type=password&client_secret=cs-9&scope=read', when: -1.5e-7, ok: true, none: null },
      ],
      credentials: {
        user: 'alice',
        pass: 'pw',
        retries: 3,
        enabled: true,
        extra: null,
        deep: { list: [bigBody, 7] },
      },
      '10': 'integer-like keys come first',
      ['__proto__']: { password: 'own property, not a prototype' },
      empties: [{}, [], [[]], { a: {} }, ''],
      text: 'lone \ud800 surrogate and \\ backslash and "quotes"',
    },
  ],
  [
    // Each case on its own: with small units, it passes through unparsed unless the search finds it.
    'names spelled every way the redactor reads them',
    {
      cases: [
        { PIN: 1234 },
        { 'X-Api-Key': 'k' },
        { sIg: ['s', 1] },
        { ['to\u212Aen']: 'KELVIN SIGN lower-cases to k' },
        ['https://x.example/a?p%69n=1&b=2'],
        ['/relative?Api%2DKey=x'],
        ['https://x.example/?to%E2%84%AAen=t'],
        ['https://x.example/?SSN=1'],
        ['Pass=hunter2&x=1'],
        ['ot%70=1'],
        { rawHeaders: ['PIN', '1', 'X-Other', '2'] },
        { headers: [{ name: 'Bearer', value: { nested: ['deep'] } }] },
        { headers: [['Otp', '9']] },
        { entry: { value: 'v', name: 'JWT' } },
        ['{"Pwd":"x"}'],
        ['{"inner":"{\\"sig\\":\\"y\\"}"}'],
        [' {"auth": "a"}'],
      ],
      notSecrets: { spin: 'the pin-up', design: 'a signature look', author: 'x', pinned: true },
    },
  ],
  [
    // Taken in runs of elements: secrets in some elements, none in others, runs cut by a large one.
    'arrays of many small values',
    {
      logs: Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0
          ? `GET https://bank.example/a/${i}?access_token=t${i}&page=2 200`
          : `[INFO] step ${i} done`,
      ),
      users: Array.from({ length: 120 }, (_, i) => ({
        id: i,
        user: `u${i}`,
        password: `p${i}`,
        roles: ['a'],
      })),
      mixed: [
        1,
        -2.5e-3,
        true,
        false,
        null,
        's',
        [],
        {},
        [['Cookie', 'c']],
        { name: 'pin', value: '1' },
        'é🎉\u2028 "quoted" \\',
        REDACTED,
        '[INFO] not JSON]',
        ' {"token":"x"} \n',
        bigBody,
        'https://a.example/?sig=s',
        { value: 'v', name: 'Otp' },
      ],
      secret: { password: [1, 'a', [2, 'b'], { c: 'd' }, null, true, REDACTED] },
    },
  ],
  ['a demo payload', samplePayload({ targetBytes: 200_000, seed: 3 })],
  ['a bare string', 'https://x.example/?token=t'],
  ['a number', 42],
  ['an empty array', []],
];

async function redactStreamed(
  json: string,
  options: RedactionOptions,
  sizes: { unitBytes?: number; windowBytes?: number },
): Promise<{ json: string; summary: string }> {
  const pieces = new Redactor(options).pieces();
  const chunks: Buffer[] = [];
  for await (const chunk of redactStoredJson(bufferSource(Buffer.from(json)), pieces, sizes))
    chunks.push(chunk);
  return { json: Buffer.concat(chunks).toString('utf8'), summary: formatRedactionSummary(pieces.summary()) };
}

function redactWhole(json: string, options: RedactionOptions): { json: string; summary: string } {
  const { value, summary } = new Redactor(options).redactInPlace(JSON.parse(json) as unknown);
  return { json: JSON.stringify(value), summary: formatRedactionSummary(summary) };
}

const sizes = [
  { name: 'default sizes', unitBytes: undefined, windowBytes: undefined },
  { name: 'every container opened, 7-byte windows', unitBytes: 1, windowBytes: 7 },
  { name: '256-byte units, 1000-byte windows', unitBytes: 256, windowBytes: 1000 },
];

const custom: RedactionOptions = {
  extra: ['user'],
  custom: (value) => value.replaceAll('alice', 'A.'),
};

describe('redacting stored JSON in pieces', () => {
  for (const { name, ...size } of sizes) {
    it.each(documents)(
      `gives JSON.stringify(redactInPlace(…))'s bytes and summary for %s, ${name}`,
      async (_label, document) => {
        const json = JSON.stringify(document);
        for (const options of [{}, custom]) {
          expect(await redactStreamed(json, options, size)).toEqual(redactWhole(json, options));
        }
      },
    );
  }

  it('finds names spelled with escapes in the stored JSON itself', async () => {
    const json = String.raw`{"p\u0069n":"1","list":["https://a.example/?to\u006Ben=t","\u0053ig=x"],"n\u0061me":"k"}`;
    const whole = redactWhole(json, {});
    expect(whole.summary).toBe('total=3 key=1 query=1 form=1 names=pin,sig,token');
    expect(await redactStreamed(json, {}, {})).toEqual(whole);
  });

  it('keeps a summary per document when one Redactor redacts several at once', async () => {
    const redactor = new Redactor();
    // Fillers over one output chunk: each walk yields between its two secrets.
    const filler = 'x'.repeat(600_000);
    const documentA = JSON.stringify({ a: [{ password: 'p' }, { filler }, { token: 't' }] });
    const documentB = JSON.stringify({ b: [{ pin: 1 }, { filler }, { cookie: 'c' }] });
    const walks = [documentA, documentB].map((json) => {
      const pieces = redactor.pieces();
      return { pieces, chunks: redactStoredJson(bufferSource(Buffer.from(json)), pieces, { unitBytes: 64 }) };
    });
    // Interleaved chunk by chunk, as two archives waiting on gzip are.
    const outputs: Buffer[][] = [[], []];
    for (let done = 0; done < walks.length;) {
      done = 0;
      for (const [index, walk] of walks.entries()) {
        const next = await walk.chunks.next();
        if (next.done === true) done += 1;
        else outputs[index]?.push(next.value);
      }
    }
    expect(formatRedactionSummary(walks[0]?.pieces.summary() ?? redactor.summary())).toBe(
      'total=2 key=2 names=password,token',
    );
    expect(formatRedactionSummary(walks[1]?.pieces.summary() ?? redactor.summary())).toBe(
      'total=2 key=2 names=cookie,pin',
    );
    expect(Buffer.concat(outputs[0] ?? []).toString()).toBe(redactWhole(documentA, {}).json);
    expect(Buffer.concat(outputs[1] ?? []).toString()).toBe(redactWhole(documentB, {}).json);
  });

  it('redacts a deeply nested document to the same bytes, the levels past 1024 taken whole', async () => {
    // As deep as JSON.stringify goes (it throws past a few thousand levels), a secret at the bottom.
    const json = `${'['.repeat(3000)}{"token":"t","other":1}${']'.repeat(3000)}`;
    expect(await redactStreamed(json, {}, { unitBytes: 64 })).toEqual(redactWhole(json, {}));
  });

  it('redacts runs of small array elements as one unit each, not element by element', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => `https://x.example/a/${i}?token=t${i}`);
    const json = JSON.stringify({ lines });
    const pieces = new Redactor().pieces();
    const value = vi.spyOn(pieces, 'value');
    const chunks: Buffer[] = [];
    for await (const chunk of redactStoredJson(bufferSource(Buffer.from(json)), pieces)) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe(redactWhole(json, {}).json);
    expect(formatRedactionSummary(pieces.summary())).toBe('total=2000 query=2000 names=token');
    // About 110 bytes an element, 4 KiB a unit.
    expect(value.mock.calls.length).toBeLessThan(100);
  });

  it('redacts formatted JSON to the same value', async () => {
    const formatted = JSON.stringify(documents[0]?.[1], null, 2);
    const streamed = await redactStreamed(formatted, {}, { unitBytes: 64, windowBytes: 100 });
    const whole = redactWhole(formatted, {});
    expect(JSON.parse(streamed.json)).toEqual(JSON.parse(whole.json));
    expect(streamed.summary).toBe(whole.summary);
  });

  it('passes untouched values through as stored and replaces only what changed', async () => {
    const json = JSON.stringify({ body: bigBody, headers: { authorization: 'secret' } });
    const { json: redacted } = await redactStreamed(json, {}, { unitBytes: 64 });
    expect(redacted).toBe(JSON.stringify({ body: bigBody, headers: { authorization: REDACTED } }));
  });

  const malformed = [
    ['truncated', '{"a":[1,2'],
    ['trailing bytes', '{"a":1} x'],
    ['a bad literal', '{"a":tru}'],
    ['a missing colon', '{"a" 1}'],
    ['an unterminated string', '{"a":"b'],
    ['nothing', ''],
    ['a missing comma', '[1 2]'],
  ];
  const refused = (error: unknown): boolean =>
    error instanceof MalformedJsonError || error instanceof SyntaxError;

  it.each(malformed)('refuses %s wherever it parses or walks it', async (_label, json) => {
    for (const unitBytes of [1, 1024]) {
      // A custom function may change any string: every value is parsed.
      const parsed: unknown = await redactStreamed(json, custom, { unitBytes, windowBytes: 3 }).catch(
        (e: unknown) => e,
      );
      expect(refused(parsed)).toBe(true);
      // A secret in the malformed value: it is parsed to be redacted.
      const withSecret = json.replace('"a"', '"token"').replace('1 2', '"token" 2');
      const suspect: unknown = await redactStreamed(withSecret, {}, { unitBytes, windowBytes: 3 }).catch(
        (e: unknown) => e,
      );
      expect(refused(suspect)).toBe(true);
    }
  });

  it.each(malformed)(
    'refuses %s where its structure is walked, else passes it through as stored, as it does any value with nothing to redact',
    async (_label, json) => {
      const outcome: unknown = await redactStreamed(json, {}, { windowBytes: 3 }).catch((e: unknown) => e);
      const structural = !['a bad literal', 'a missing colon', 'a missing comma'].includes(_label);
      if (structural) expect(refused(outcome)).toBe(true);
      else expect(outcome).toEqual({ json, summary: 'total=0' });
    },
  );
});
