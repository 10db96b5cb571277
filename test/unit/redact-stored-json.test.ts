import { describe, expect, it } from 'vitest';
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

  it.each([
    ['truncated', '{"a":[1,2'],
    ['trailing bytes', '{"a":1} x'],
    ['a bad literal', '{"a":tru}'],
    ['a missing colon', '{"a" 1}'],
    ['an unterminated string', '{"a":"b'],
    ['nothing', ''],
    ['a missing comma', '[1 2]'],
  ])('refuses %s', async (_label, json) => {
    for (const unitBytes of [1, 1024]) {
      const error: unknown = await redactStreamed(json, {}, { unitBytes, windowBytes: 3 }).catch(
        (e: unknown) => e,
      );
      expect(error instanceof MalformedJsonError || error instanceof SyntaxError).toBe(true);
    }
  });
});
