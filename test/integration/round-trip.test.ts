import { describe, expect, it } from 'vitest';
import { verifyArchivedObject } from '../support/archive-check.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { seededRandom, wordyText } from '../support/payloads.ts';
import { listPayloadKeys } from '../support/s3-objects.ts';
import { consumerTarget, uniqueQueueName, useTestServers } from '../support/servers.ts';

const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;

function controlCharacters(): string {
  return Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)).join('');
}

function nested(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let level = 0; level < levels; level += 1)
    value = level % 2 === 0 ? { [`k${level}`]: value } : [level, value];
  return value;
}

/** ~36 MB of JSON whose base64 is several 5 MiB parts: recorded exchanges with wordy bodies. */
function multipartSized(): unknown {
  const random = seededRandom(7);
  const body = wordyText(36 * MiB, 11);
  const exchanges: unknown[] = [];
  const slice = 256 * 1024;
  for (let offset = 0, index = 0; offset < body.length; offset += slice, index += 1) {
    exchanges.push({
      index,
      url: `https://bank.example/api/${Math.floor(random() * 1e9).toString(36)}`,
      status: 200,
      body: body.slice(offset, offset + slice),
    });
  }
  return { task: { id: 'big', note: 'é 日本 🎉' }, exchanges };
}

const samples: [name: string, make: () => unknown][] = [
  ['emoji and CJK text', () => ({ text: '🎉👩‍👩‍👧‍👦 日本語テキスト 中文 한국어 é', '🔑': '键' })],
  [
    'lone surrogates',
    () => ({ high: '\ud800', lowThenX: '\udc00x', both: ['\ud800', '\udfff', 'a\ud83db'] }),
  ],
  ['U+2028 and U+2029', () => ({ separators: 'line\u2028paragraph\u2029end', '\u2028': '\u2029' })],
  [
    'every control character 0x00-0x1f',
    () => ({ controls: controlCharacters(), [controlCharacters()]: 'as a key', list: [controlCharacters()] }),
  ],
  ['500 levels of nested objects and arrays', () => nested(500)],
  ['a 5 MB string', () => ({ long: wordyText(5 * 1000 * 1000, 3) })],
  [
    'an array of 100k elements',
    () =>
      Array.from({ length: 100_000 }, (_, index) =>
        index % 3 === 0 ? { index } : index % 3 === 1 ? `s${index}` : index,
      ),
  ],
  ['a top-level array', () => [1, 'two', { three: [3] }, null, true, []]],
  ['a top-level string', () => 'just a string with "quotes" and \\ backslashes'],
  ['a top-level number', () => -1234.5e-7],
  ['a top-level null', () => null],
  [
    'odd keys (__proto__ as an own key, empty key, constructor)',
    () =>
      JSON.parse(
        '{"__proto__":1,"":"empty","constructor":{"prototype":2},"toString":3,"hasOwnProperty":4}',
      ) as unknown,
  ],
];

describe('payloads archived through Redis and S3 come back exactly', () => {
  const servers = useTestServers();
  const guard = useLeakGuard();

  /** Enqueues one payload on a fresh queue and bucket, archives it and checks the object. */
  async function roundTrip(payload: unknown, producerOptions: { enqueueTimeoutMs?: number } = {}) {
    const queueName = uniqueQueueName('round-trip');
    const bucket = await servers.s3.createBucket();
    const producer = guard.producer({ redisUrl: servers.redis.url, queueName, ...producerOptions });
    const consumer = await guard.consumer({
      ...consumerTarget(servers, queueName, bucket),
      partSizeBytes: PART_SIZE,
    });
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const taskId = `task-${queueName}`;
      const from = Date.now();
      const result = await producer.enqueue(payload, { taskId, integration: 'acme-bank' });
      const to = Date.now();
      if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
      await inspector.waitForArchived([result.payloadId], 45_000);
      expect(await listPayloadKeys(servers.s3.client, bucket)).toEqual([result.key]);
      const checked = await verifyArchivedObject(servers.s3.client, bucket, result.key, payload, {
        payloadId: result.payloadId,
        taskId,
        integration: 'acme-bank',
        enqueuedBetween: { from, to },
      });
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
      return checked;
    } finally {
      await producer.close();
      await consumer.close();
      await inspector.close();
    }
  }

  it.each(samples)('round-trips %s', async (_name, make) => {
    const { base64Bytes } = await roundTrip(make());
    expect(base64Bytes).toBeGreaterThan(0);
  });

  it('keeps __proto__ an own data key and leaves the prototype alone', async () => {
    const { loaded } = await roundTrip(
      JSON.parse('{"__proto__":{"polluted":true},"constructor":1}') as unknown,
    );
    const record = loaded as Record<string, unknown>;
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
    expect(Object.hasOwn(record, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(record, '__proto__')?.value).toEqual({ polluted: true });
    expect(record.constructor).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('round-trips a ~36 MB payload through a multipart upload and writes its final metadata', async () => {
    const payload = multipartSized();
    // A 36 MB SET can take longer than the 1 s default on a busy two-core machine; the bound on
    // enqueue time is not what this test is about.
    const { base64Bytes } = await roundTrip(payload, { enqueueTimeoutMs: 15_000 });
    expect(base64Bytes).toBeGreaterThan(PART_SIZE);
  }, 90_000);
});
