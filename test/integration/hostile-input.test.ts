import { describe, expect, it } from 'vitest';
import { InvalidMetaError } from '../../src/errors.ts';
import type { DebugPayloadMeta, DropReason, EnqueueResult } from '../../src/producer/producer.ts';
import { useLeakGuard } from '../support/leak-guard.ts';
import { useTestRedis, uniqueQueueName } from '../support/servers.ts';

const MiB = 1024 * 1024;
const MAX_PAYLOAD_BYTES = MiB;

function cyclic(): unknown {
  const node: Record<string, unknown> = { name: 'loop' };
  node.self = { parent: node };
  return node;
}

function throwingGetter(): unknown {
  return {
    ok: 1,
    get broken(): never {
      throw new Error('getter exploded');
    },
  };
}

function deeplyNested(levels: number, arrays: boolean): unknown {
  let value: unknown = 'bottom';
  for (let level = 0; level < levels; level += 1) value = arrays ? [value] : { a: value };
  return value;
}

const refused: [name: string, make: () => unknown, reason: DropReason][] = [
  ['a cyclic object', cyclic, 'not_serializable'],
  ['a BigInt', () => 10n ** 30n, 'not_serializable'],
  ['a BigInt inside an object', () => ({ amount: 1n }), 'not_serializable'],
  ['a function', () => () => 1, 'not_serializable'],
  ['undefined', () => undefined, 'not_serializable'],
  ['a symbol', () => Symbol('s'), 'not_serializable'],
  ['a getter that throws', throwingGetter, 'not_serializable'],
  [
    'a toJSON that throws',
    () => ({
      toJSON(): never {
        throw new Error('toJSON exploded');
      },
    }),
    'not_serializable',
  ],
  ['100,000 levels of nested objects', () => deeplyNested(100_000, false), 'not_serializable'],
  ['100,000 levels of nested arrays', () => deeplyNested(100_000, true), 'not_serializable'],
  ['a string over maxPayloadBytes', () => 'x'.repeat(MAX_PAYLOAD_BYTES + 1), 'payload_too_large'],
  [
    'multi-byte text whose UTF-8 is over maxPayloadBytes though its length is not',
    () => ({ text: '€'.repeat(Math.ceil(MAX_PAYLOAD_BYTES / 2.5)) }),
    'payload_too_large',
  ],
];

describe('hostile input to enqueue', () => {
  const servers = useTestRedis();
  const guard = useLeakGuard();

  function producerFor(label: string) {
    const queueName = uniqueQueueName(label);
    return {
      queueName,
      producer: guard.producer({
        redisUrl: servers.redis.url,
        queueName,
        maxPayloadBytes: MAX_PAYLOAD_BYTES,
      }),
    };
  }

  it.each(refused)('resolves dropped for %s', async (_name, make, reason) => {
    const { queueName, producer } = producerFor('hostile');
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      let settled: PromiseSettledResult<EnqueueResult> | undefined;
      try {
        settled = (await Promise.allSettled([producer.enqueue(make(), { taskId: 'hostile' })]))[0];
      } catch (error) {
        expect.fail(`enqueue threw synchronously: ${String(error)}`);
      }
      expect(settled).toEqual({ status: 'fulfilled', value: { status: 'dropped', reason } });
      const stats = producer.stats();
      expect(stats.dropped[reason]).toBe(1);
      expect(stats.queued).toBe(0);
      expect(stats.inFlightBytes).toBe(0);
      expect(await inspector.usage()).toEqual({ payloads: 0, bytes: 0 });
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('queues a Proxy that serialises like the object behind it', async () => {
    const { queueName, producer } = producerFor('hostile-proxy');
    const inspector = guard.inspector(servers.redis.url, queueName);
    try {
      const target = { a: 1, nested: { list: [1, 2, 3] }, text: 'é🎉' };
      const proxy = new Proxy(target, {
        get: (object, property, receiver) => Reflect.get(object, property, receiver) as unknown,
      });
      const result = await producer.enqueue(proxy, { taskId: 'proxy' });
      if (result.status !== 'queued') throw new Error(`expected queued, got ${JSON.stringify(result)}`);
      expect(await inspector.ledger.readPayload(result.payloadId)).toBe(JSON.stringify(target));
      expect(await inspector.usage()).toEqual({
        payloads: 1,
        bytes: Buffer.byteLength(JSON.stringify(target)),
      });
    } finally {
      await producer.close();
      await inspector.close();
    }
  });

  it('queues a payload of exactly maxPayloadBytes', async () => {
    const { producer } = producerFor('hostile-limit');
    try {
      const payload = 'x'.repeat(MAX_PAYLOAD_BYTES - 2);
      expect(Buffer.byteLength(JSON.stringify(payload))).toBe(MAX_PAYLOAD_BYTES);
      expect((await producer.enqueue(payload, { taskId: 'limit' })).status).toBe('queued');
    } finally {
      await producer.close();
    }
  });

  const badMetas: [name: string, meta: unknown][] = [
    ['no meta', undefined],
    ['null meta', null],
    ['a string as meta', 'task-1'],
    ['meta without taskId', {}],
    ['a numeric taskId', { taskId: 42 }],
    ['an object as taskId', { taskId: { id: 'x' } }],
    ['a null taskId', { taskId: null }],
  ];

  it.each(badMetas)('rejects %s with an InvalidMetaError', async (_name, meta) => {
    const { producer } = producerFor('hostile-meta');
    try {
      await expect(producer.enqueue({ ok: true }, meta as DebugPayloadMeta)).rejects.toBeInstanceOf(
        InvalidMetaError,
      );
      expect(producer.stats().queued).toBe(0);
    } finally {
      await producer.close();
    }
  });
});
