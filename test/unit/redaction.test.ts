import { describe, expect, it, vi } from 'vitest';
import { REDACTED, Redactor } from '../../src/redaction/redactor.ts';

const recorded = () => ({
  task: { id: 't-1', user: 'alice', author: 'bob' },
  exchanges: [
    {
      request: {
        method: 'POST',
        url: 'https://bank.example/api/login?client_id=app&access_token=abc123&page=2#frag',
        headers: {
          Authorization: 'Bearer eyJhbGciOi.payload.sig',
          'Content-Type': 'application/json',
          'X-Api-Key': 'k-1',
        },
        body: '{"username":"alice","password":"hunter2","nested":{"refresh_token":"r-1"}}',
      },
      response: {
        status: 200,
        headers: [
          { name: 'Set-Cookie', value: 'sid=s3cr3t; HttpOnly' },
          { name: 'Content-Length', value: '42' },
        ],
        rawHeaders: ['Set-Cookie', 'a=b', 'Server', 'nginx'],
        body: 'grant_type=password&client_secret=cs-9&scope=read',
      },
    },
  ],
  credentials: { user: 'alice', pass: 'pw', retries: 3, enabled: true, extra: null },
  html: '<html>password: not a key=value body</html>',
});

describe('redaction', () => {
  it('redacts keys, headers, query strings, form and JSON bodies and keeps everything else', () => {
    const { value, summary } = new Redactor().redactInPlace(recorded());
    const exchange = value.exchanges[0];
    expect(exchange?.request.url).toBe(
      'https://bank.example/api/login?client_id=app&access_token=REDACTED&page=2#frag',
    );
    expect(exchange?.request.headers).toEqual({
      Authorization: REDACTED,
      'Content-Type': 'application/json',
      'X-Api-Key': REDACTED,
    });
    expect(JSON.parse(exchange?.request.body ?? '')).toEqual({
      username: 'alice',
      password: REDACTED,
      nested: { refresh_token: REDACTED },
    });
    expect(exchange?.response.headers).toEqual([
      { name: 'Set-Cookie', value: REDACTED },
      { name: 'Content-Length', value: '42' },
    ]);
    expect(exchange?.response.rawHeaders).toEqual(['Set-Cookie', REDACTED, 'Server', 'nginx']);
    expect(exchange?.response.body).toBe('grant_type=password&client_secret=REDACTED&scope=read');
    // Shape kept: keys stay, numbers and strings redacted, booleans and nulls kept.
    expect(value.credentials).toEqual({
      user: REDACTED,
      pass: REDACTED,
      retries: REDACTED,
      enabled: true,
      extra: null,
    });
    expect(value.task).toEqual({ id: 't-1', user: 'alice', author: 'bob' });
    expect(value.html).toBe('<html>password: not a key=value body</html>');
    expect(summary.total).toBe(11);
    expect(summary.byRule).toEqual({ key: 7, header: 2, query: 1, form: 1, json_body: 1 });
    expect(summary.names).toEqual(
      expect.arrayContaining([
        'authorization',
        'x_api_key',
        'access_token',
        'set_cookie',
        'password',
        'client_secret',
      ]),
    );
    expect(JSON.stringify(summary)).not.toMatch(/hunter2|abc123|s3cr3t|cs-9|eyJ/);
  });

  it('reads names case-insensitively across - and _ spellings', () => {
    const { value } = new Redactor().redactInPlace({
      'PROXY-AUTHORIZATION': 'x',
      Api_Key: 'y',
      csrftoken: 'z',
      SessionId: 'w',
      'x-auth-token': 'v',
      ID_TOKEN: 'u',
      private_key: 'p',
      author: 'kept',
      tokenizer_version: 'redacted too: it contains token',
    });
    expect(Object.values(value).filter((entry) => entry !== REDACTED)).toEqual(['kept']);
  });

  it('takes extra keys, keeps listed keys and runs a custom function', () => {
    const redactor = new Redactor({
      extra: ['account-number'],
      keep: ['session_count'],
      custom: (text) => text.replaceAll(/\b\d{16}\b/g, '[CARD]'),
    });
    const { value } = redactor.redactInPlace({
      account_number: '123',
      session_count: 4,
      note: 'paid with 4111111111111111',
    });
    expect(value).toEqual({ account_number: REDACTED, session_count: 4, note: 'paid with [CARD]' });
  });

  it('leaves strings with nothing to redact byte-for-byte, JSON formatting included', () => {
    const body = '{ "a" : 1,\n  "b": [1, 2] }';
    const { value, summary } = new Redactor().redactInPlace({ body, url: 'https://x.example/?a=1&b=%20' });
    expect(value).toEqual({ body, url: 'https://x.example/?a=1&b=%20' });
    expect(summary.total).toBe(0);
  });

  it('parses as JSON only strings shaped like a JSON object or array: a failed parse costs a throw', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const { value, summary } = new Redactor().redactInPlace({
        headers: [{ name: 'Authorization', value: 'Bearer x' }],
        logs: ['[INFO] started', '{ not json', REDACTED, '[1, 2] and more'],
        bodies: [' {"token":"t"} \n', '\t[{"password":"p"}]'],
      });
      expect(parse.mock.calls.map(([text]) => text)).toEqual([' {"token":"t"} \n', '\t[{"password":"p"}]']);
      expect(value.bodies).toEqual([
        JSON.stringify({ token: REDACTED }),
        JSON.stringify([{ password: REDACTED }]),
      ]);
      expect(summary.byRule).toMatchObject({ header: 1, json_body: 2 });
    } finally {
      parse.mockRestore();
    }
  });

  it('survives hostile input', () => {
    let deep: unknown = { token: 'x' };
    for (let level = 0; level < 100_000; level += 1) deep = { next: deep };
    const { summary } = new Redactor().redactInPlace(deep);
    expect(summary.total).toBe(1);
    const odd = { body: '{"unterminated": ', url: '/path?%E0%A4%A=1&token=%ZZ', big: 'x'.repeat(20_000_000) };
    const { value } = new Redactor().redactInPlace(odd);
    expect(value.body).toBe('{"unterminated": ');
    expect(value.url).toBe('/path?%E0%A4%A=1&token=REDACTED');
  });

  it('redacts through a JSON.stringify replacer without touching the caller’s objects', () => {
    const payload = recorded();
    const before = JSON.stringify(payload);
    const redactor = new Redactor();
    const json = JSON.stringify(payload, redactor.replacer());
    expect(JSON.stringify(payload)).toBe(before);
    expect(JSON.parse(json)).toEqual(new Redactor().redactInPlace(recorded()).value);
    expect(redactor.summary().total).toBe(11);
  });
});
