import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXTERNAL_MEMORY_FLAG } from '../../src/consumer/gc-tuning.ts';
import { samplePayload } from '../../src/demo/sample-payload.ts';
import { InvalidJsonError, RedactionPool } from '../../src/redaction/redaction-pool.ts';
import { formatRedactionSummary, Redactor, type RedactionOptions } from '../../src/redaction/redactor.ts';
import { SharedSlots } from '../../src/redaction/thread-messages.ts';

const pools: RedactionPool[] = [];
function pool(options: ConstructorParameters<typeof RedactionPool>[0]): RedactionPool {
  const made = new RedactionPool(options);
  pools.push(made);
  return made;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((made) => made.close()));
});

/**
 * Runs `lines` as a module of their own, with RedactionPool imported, in a process of its own
 * that must exit by itself within 20 s, cleanly; returns what it printed.
 */
function runUntilExit(name: string, lines: string[]): string {
  const script = [
    `import { RedactionPool } from ${JSON.stringify(new URL('../../src/redaction/redaction-pool.ts', import.meta.url).href)};`,
    ...lines,
  ].join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'redaction-pool-')), `${name}.mjs`);
  writeFileSync(file, script);
  const run = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim();
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<{ json: string; sizes: number[] }> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return { json: Buffer.concat(parts).toString('utf8'), sizes: parts.map((part) => part.length) };
}

/** What the event loop's path stores: parse, redact in place, stringify again. */
function expected(json: string, rules: RedactionOptions = {}) {
  const { value, summary } = new Redactor(rules).redactInPlace(JSON.parse(json) as unknown);
  return { json: JSON.stringify(value), summary };
}

const secrets = {
  request: {
    url: 'https://bank.example/login?user=al&access_token=abc#x',
    headers: { Authorization: 'Bearer x.y.z', 'X-Trace': 't-1' },
    body: '{"password":"hunter2","note":"é 🎉"}',
  },
  custom_id: 'c-9',
  keepme_token: 'visible',
};

describe('RedactionPool', () => {
  it('stores what redacting on the event loop stores, for small and multi-chunk payloads, under the rules given', async () => {
    const rules = { extra: ['custom_id'], keep: ['keepme_token'] };
    const redaction = pool({ threads: 2, rules });
    const small = JSON.stringify(secrets);
    // Over 1 MiB: streamed in chunks of about 512 KiB rather than stringified as one string.
    const large = JSON.stringify(samplePayload({ seed: 7, targetBytes: 3_000_000 }));
    // One string (under 1 MiB of characters) but over 1 MiB of UTF-8: too large for a slot.
    const wide = JSON.stringify({ body: 'é'.repeat(600_000), token: 't' });
    for (const json of [small, large, wide]) {
      const redacted = redaction.redact(Buffer.from(json));
      expect(() => redacted.summary()).toThrow('the redaction summary is known at the end');
      const want = expected(json, rules);
      const got = await collect(redacted.chunks);
      expect(got.json).toBe(want.json);
      // Names in the order met; the object metadata lists them sorted.
      expect(formatRedactionSummary(redacted.summary())).toBe(formatRedactionSummary(want.summary));
      if (json === large) {
        expect(got.sizes.length).toBeGreaterThan(3);
        expect(Math.max(...got.sizes)).toBeLessThan(1024 * 1024);
      }
    }
    expect(expected(small, rules).json).toContain('"keepme_token":"visible"');
    expect(expected(small, rules).json).not.toContain('c-9');
  });

  it('redacts a document nested deeper than a walk level by level can go, taking the deep part whole', async () => {
    const redaction = pool({ threads: 1 });
    const depth = 12_000;
    const nested = (secret: string): string =>
      `${'{"a":'.repeat(depth)}{"password":${secret},"pad":"${'y'.repeat(200_000)}"}${'}'.repeat(depth)}`;
    const redacted = redaction.redact(Buffer.from(nested('"hunter2"')));
    expect((await collect(redacted.chunks)).json).toBe(nested('"[REDACTED]"'));
    expect(redacted.summary().total).toBe(1);
  });

  it('takes the bytes it is given without a copy, and copies a pooled Buffer instead of detaching the pool', async () => {
    const redaction = pool({ threads: 1 });
    // Larger than anything Node's pool hands out (Buffer.poolSize / 2).
    const owned = Buffer.from(JSON.stringify({ filler: 'x'.repeat(Buffer.poolSize) }));
    expect(owned.byteLength).toBe(owned.buffer.byteLength);
    const pooled = Buffer.from('{"token":"t"}');
    const neighbour = Buffer.from('still here');
    expect(pooled.buffer).toBe(neighbour.buffer);
    await collect(redaction.redact(owned).chunks);
    expect(owned.length).toBe(0);
    expect((await collect(redaction.redact(pooled).chunks)).json).toBe('{"token":"[REDACTED]"}');
    expect(neighbour.toString()).toBe('still here');
  });

  it('runs payloads at once on up to its threads, and never more threads than payloads', async () => {
    const redaction = pool({ threads: 2 });
    const json = JSON.stringify(samplePayload({ seed: 3, targetBytes: 200_000 }));
    const one = redaction.redact(Buffer.from(json));
    expect(redaction.size).toBe(1);
    await collect(one.chunks);
    await collect(redaction.redact(Buffer.from(json)).chunks);
    expect(redaction.size).toBe(1);
    // Over two chunks ahead each, so a thread's three walks take turns waiting for the reader.
    const large = JSON.stringify(samplePayload({ seed: 3, targetBytes: 2_500_000 }));
    const redacting = Array.from({ length: 6 }, () => redaction.redact(Buffer.from(large)));
    const many = await Promise.all(redacting.map((redacted) => collect(redacted.chunks)));
    expect(redaction.size).toBe(2);
    for (const got of many) expect(got.json).toBe(expected(large).json);
    // Each with its own summary.
    for (const redacted of redacting) {
      expect(formatRedactionSummary(redacted.summary())).toBe(
        formatRedactionSummary(expected(large).summary),
      );
    }
  });

  it('redacts steps as they come, each moved without a copy, and fails the chunks with the error of a step that does not come', async () => {
    const redaction = pool({ threads: 1 });
    const json = Buffer.from(JSON.stringify(samplePayload({ seed: 6, targetBytes: 2_500_000 })));
    const stepBytes = 256 * 1024;
    const cut = (): Buffer[] => {
      const steps: Buffer[] = [];
      for (let at = 0; at < json.length; at += stepBytes) {
        steps.push(Buffer.from(json.subarray(at, at + stepBytes)));
      }
      return steps;
    };
    const given = cut();
    let taken = 0;
    // Each step comes only once the walk has had time to catch up with the last.
    async function* slowly(): AsyncGenerator<Buffer> {
      for (const step of given) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        taken += 1;
        yield step;
      }
    }
    const redacted = redaction.redactSteps(json.length, stepBytes, slowly());
    const want = expected(json.toString('utf8'));
    expect((await collect(redacted.chunks)).json).toBe(want.json);
    expect(formatRedactionSummary(redacted.summary())).toBe(formatRedactionSummary(want.summary));
    expect(taken).toBe(given.length);
    expect(given.every((step) => step.length === 0)).toBe(true);

    class GoneError extends Error {}
    async function* failing(): AsyncGenerator<Buffer> {
      yield* cut().slice(0, 2);
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new GoneError('evicted meanwhile');
    }
    const broken = redaction.redactSteps(json.length, stepBytes, failing());
    await expect(collect(broken.chunks)).rejects.toBeInstanceOf(GoneError);
    // The thread's walk, left waiting for the third step, ended: the next payload gets the same thread.
    expect((await collect(redaction.redactSteps(json.length, stepBytes, cut()).chunks)).json).toBe(want.json);
    expect(redaction.size).toBe(1);
  });

  it('keeps nothing of a payload once it is redacted, in a process started as the worker is', () => {
    // The worker's V8 flag is process-wide, so this runs in a process of its own. Under it, V8
    // never collected what was moved to a thread: each payload stayed until the thread freed it.
    const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    const script = [
      `import { RedactionPool } from ${module('../../src/redaction/redaction-pool.ts')};`,
      `import { samplePayload } from ${module('../../src/demo/sample-payload.ts')};`,
      'const json = Buffer.from(JSON.stringify(samplePayload({ seed: 9, targetBytes: 2_000_000 })));',
      'const stepBytes = 512 * 1024;',
      'const pool = new RedactionPool({ threads: 1 });',
      // An idle thread does not keep the process alive, nor does a question to it.
      'const alive = setInterval(() => undefined, 1000);',
      'const archive = async () => {',
      '  const steps = [];',
      '  for (let at = 0; at < json.length; at += stepBytes) steps.push(Buffer.from(json.subarray(at, at + stepBytes)));',
      '  let bytes = 0;',
      '  for await (const chunk of pool.redactSteps(json.length, stepBytes, steps).chunks) bytes += chunk.length;',
      '  return bytes;',
      '};',
      'const redactedBytes = await archive();',
      'const before = await pool.memory();',
      // 40 MB moved to the thread, one payload after another.
      'for (let payload = 0; payload < 20; payload += 1) await archive();',
      'const after = await pool.memory();',
      'await pool.close();',
      'clearInterval(alive);',
      'console.log(JSON.stringify({ redactedBytes, before, after }));',
    ].join('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'redaction-pool-')), 'redact-series.mjs');
    writeFileSync(file, script);
    const run = spawnSync(process.execPath, [`--${EXTERNAL_MEMORY_FLAG}`, file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const { redactedBytes, before, after } = JSON.parse(run.stdout) as Record<
      'before' | 'after',
      { threads: number; heapBytes: number; externalBytes: number }
    > & { redactedBytes: number };
    expect(redactedBytes).toBeGreaterThan(1_500_000);
    expect(before.threads).toBe(1);
    expect(after.heapBytes).toBeGreaterThan(0);
    expect(after.externalBytes - before.externalBytes).toBeLessThan(8 * 1024 * 1024);
  });

  it('fails bytes that are not JSON with InvalidJsonError and goes on', async () => {
    const redaction = pool({ threads: 1 });
    await expect(collect(redaction.redact(Buffer.from('{"a":')).chunks)).rejects.toBeInstanceOf(
      InvalidJsonError,
    );
    // Found midway, after chunks went out: the whole payload fails all the same.
    const late = JSON.stringify(samplePayload({ seed: 4, targetBytes: 2_000_000 })).replace(/}$/, ',"pin":}');
    await expect(collect(redaction.redact(Buffer.from(late)).chunks)).rejects.toBeInstanceOf(
      InvalidJsonError,
    );
    expect((await collect(redaction.redact(Buffer.from('[1]')).chunks)).json).toBe('[1]');
  });

  it('drops a payload read only in part, so its thread takes the next', async () => {
    const redaction = pool({ threads: 2 });
    const json = JSON.stringify(samplePayload({ seed: 5, targetBytes: 4_000_000 }));
    const redacted = redaction.redact(Buffer.from(json));
    for await (const chunk of redacted.chunks) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    const unread = redaction.redact(Buffer.from(json));
    unread.cancel();
    await expect(collect(unread.chunks)).rejects.toThrow('redaction cancelled');
    expect((await collect(redaction.redact(Buffer.from(json)).chunks)).json).toBe(expected(json).json);
    // Each was idle again for the next: no second thread was needed.
    expect(redaction.size).toBe(1);
  });

  it('fails only the payloads of a thread that runs out of memory, and starts a new thread for the next', async () => {
    const stopped: (Error | undefined)[] = [];
    const redaction = pool({
      threads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 24 },
      onThreadStopped: (error) => stopped.push(error),
    });
    // A header list with a secret is parsed whole, however long: 40 MB of it under a 24 MB heap.
    const huge = `{"headers":[${`["x","${'y'.repeat(1000)}"],`.repeat(40_000)}["Cookie","c"]]}`;
    await expect(collect(redaction.redact(Buffer.from(huge)).chunks)).rejects.toThrow(
      /redaction thread stopped/,
    );
    expect(redaction.size).toBe(0);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]?.message).toMatch(/memory/i);
    expect((await collect(redaction.redact(Buffer.from('{"pin":1234}')).chunks)).json).toBe(
      '{"pin":"[REDACTED]"}',
    );
  });

  it('fails what it holds when closed, and refuses more', async () => {
    const stopped: unknown[] = [];
    const redaction = pool({ threads: 1, onThreadStopped: (error) => stopped.push(error) });
    const pending = redaction.redact(
      Buffer.from(JSON.stringify(samplePayload({ seed: 2, targetBytes: 8_000_000 }))),
    );
    await redaction.close();
    await expect(collect(pending.chunks)).rejects.toThrow('the redaction pool is closed');
    expect(stopped).toEqual([]);
    expect(() => redaction.redact(Buffer.from('{}'))).toThrow('the redaction pool is closed');
  });

  it('hands out each shared slot once until it is copied out or released, and none for chunks larger than a slot', () => {
    const slots = SharedSlots.create(2, 1024);
    const first = slots.take(10);
    const second = slots.take(1024);
    expect(first?.length).toBe(10);
    expect(slots.take(1)).toBeUndefined();
    expect(slots.slotOf(second ?? Buffer.alloc(0))).toBe(1);
    expect(slots.slotOf(Buffer.alloc(10))).toBe(-1);
    first?.write('0123456789');
    const copy = slots.copyOut(0, 10);
    expect(copy.toString()).toBe('0123456789');
    expect(copy.buffer).not.toBe(slots.slab);
    expect(slots.take(1025)).toBeUndefined();
    expect(slots.slotOf(slots.take(5) ?? Buffer.alloc(0))).toBe(0);
    slots.release(1);
    expect(slots.slotOf(slots.take(5) ?? Buffer.alloc(0))).toBe(1);
  });

  it('keeps the process alive while a payload is being redacted, and lets it exit once idle', () => {
    const stdout = runUntilExit('redact-once', [
      'const redacted = new RedactionPool({ threads: 1 }).redact(Buffer.from(\'{"pin":1}\'));',
      "let json = ''; for await (const chunk of redacted.chunks) json += chunk;",
      'console.log(json);',
    ]);
    expect(stdout).toBe('{"pin":"[REDACTED]"}');
  });

  it('starts the threads asked for, up to its own number, which redact as those started on need do and let the process exit while idle', async () => {
    const redaction = pool({ threads: 2 });
    redaction.start(1);
    expect(redaction.size).toBe(1);
    redaction.start(5);
    expect(redaction.size).toBe(2);
    redaction.start();
    expect(redaction.size).toBe(2);
    const json = JSON.stringify(samplePayload({ seed: 4, targetBytes: 300_000 }));
    const both = await Promise.all([1, 2].map(() => collect(redaction.redact(Buffer.from(json)).chunks)));
    for (const got of both) expect(got.json).toBe(expected(json).json);
    expect(redaction.size).toBe(2);
    await redaction.close();
    expect(() => {
      redaction.start();
    }).toThrow('the redaction pool is closed');

    const stdout = runUntilExit('start-idle', [
      'const started = new RedactionPool({ threads: 2 });',
      'started.start();',
      'console.log(started.size);',
    ]);
    expect(stdout).toBe('2');
  });

  it('needs at least one thread', () => {
    expect(() => new RedactionPool({ threads: 0 })).toThrow(RangeError);
  });
});
