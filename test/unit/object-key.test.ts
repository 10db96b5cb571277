import { describe, expect, it } from 'vitest';
import {
  buildObjectKey,
  decodeKeySegment,
  encodeKeySegment,
  newPayloadId,
  parseObjectKey,
  payloadIdTime,
} from '../../src/object-key.ts';

const payloadId = '01a2085e-f185-757d-a5ec-a0b6477b916c';
const at = new Date('2026-11-23T10:11:12.000Z');

describe('object keys', () => {
  it('lay out prefix, day, integration, task and payload id', () => {
    expect(
      buildObjectKey({
        keyPrefix: 'debug',
        enqueuedAt: at,
        integration: 'acme-bank',
        taskId: 'task-1',
        payloadId,
      }),
    ).toBe(`debug/2026-11-23/acme-bank/task-1/${payloadId}.json.gz.b64`);
  });

  it('mark a missing integration with a segment no integration can produce', () => {
    const key = buildObjectKey({
      keyPrefix: 'p',
      enqueuedAt: at,
      integration: undefined,
      taskId: 't',
      payloadId,
    });
    expect(key).toBe(`p/2026-11-23/_/t/${payloadId}.json.gz.b64`);
    expect(encodeKeySegment('_')).not.toBe('_');
    expect(parseObjectKey(key).integration).toBeUndefined();
  });

  const hostile = [
    '../../etc/passwd',
    '/absolute',
    '..',
    '.',
    'a\u0000b\u001fc\u007f',
    'tab\there',
    'new\nline',
    'space and %25 percent',
    'ünïcødé 日本 🎉',
    'lone \ud800 surrogate \udc00',
    '_leading',
    '%u0041',
    'x'.repeat(5_000),
  ];

  it.each(hostile)('escape %j into one safe segment that decodes back', (taskId) => {
    const key = buildObjectKey({ keyPrefix: 'p', enqueuedAt: at, integration: taskId, taskId, payloadId });
    const segments = key.split('/');
    expect(segments).toHaveLength(5);
    expect(key.startsWith('/')).toBe(false);
    for (const segment of segments) expect(segment === '.' || segment === '..').toBe(false);
    expect(Array.from(key).filter((char) => char < ' ' || char === '\u007f')).toEqual([]);
    expect(Buffer.byteLength(key)).toBeLessThanOrEqual(1024);
    const parsed = parseObjectKey(key);
    if (taskId.length < 100) {
      expect(parsed.taskId).toBe(taskId);
      expect(parsed.integration).toBe(taskId);
    }
    expect(parsed.payloadId).toBe(payloadId);
  });

  it('never give two different ids the same segment', () => {
    const ids = [
      ...hostile,
      'a/b',
      'a%2Fb',
      'a%252Fb',
      'a.b',
      'a%2Eb',
      '\ud800',
      '%uD800',
      '\ufffd',
      'x'.repeat(5_000),
      `${'x'.repeat(4_999)}y`,
      'x'.repeat(300),
    ];
    const unique = [...new Set(ids)];
    const segments = new Set(unique.map(encodeKeySegment));
    expect(segments.size).toBe(unique.length);
  });

  it('leave plain ids as they are', () => {
    expect(encodeKeySegment('Task_42-a')).toBe('Task_42-a');
    expect(decodeKeySegment('Task_42-a')).toBe('Task_42-a');
  });

  it('refuse keys it did not build', () => {
    expect(() => parseObjectKey('some/other/object.json')).toThrow(/not a debug-archiver object key/);
  });
});

describe('payload ids', () => {
  it('are UUIDv7s of their time that sort in the order they were made, within one millisecond too', () => {
    const msecs = at.getTime();
    const ids = Array.from({ length: 5_000 }, () => newPayloadId(msecs));
    ids.push(newPayloadId(msecs + 1));
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(payloadIdTime(ids[0] ?? '')).toEqual(at);
    expect(new Set(ids).size).toBe(ids.length);
    // A 12-bit counter orders the first 4,096 of a millisecond; random bits follow it after.
    const counted = [...ids.slice(0, 4_096), ids.at(-1) ?? ''];
    expect([...counted].sort()).toEqual(counted);
  });
});
