import { describe, expect, it } from 'vitest';
import { JsonScanner } from '../../src/encoding/json-scanner.ts';
import { ArrivingBytes } from '../../src/redaction/arriving-bytes.ts';
import { redactStoredJson } from '../../src/redaction/redact-stored-json.ts';
import { Redactor } from '../../src/redaction/redactor.ts';

function arriving(text: string, stepBytes: number): { bytes: ArrivingBytes; steps: Buffer[] } {
  const whole = Buffer.from(text);
  const steps: Buffer[] = [];
  for (let at = 0; at < whole.length; at += stepBytes) steps.push(whole.subarray(at, at + stepBytes));
  return { bytes: new ArrivingBytes(whole.length, stepBytes), steps };
}

describe('ArrivingBytes', () => {
  it('answers a read once the steps it spans have come: a view within one step, a copy across two', async () => {
    const { bytes, steps } = arriving('0123456789abcdef', 4);
    let done = false;
    const reading = bytes.read(2, 9).then((read) => {
      done = true;
      return read;
    });
    bytes.add(steps[0] as Buffer);
    bytes.add(steps[1] as Buffer);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    bytes.add(steps[2] as Buffer);
    expect((await reading).toString()).toBe('23456789'.slice(0, 7));
    const within = await bytes.read(4, 8);
    expect(within.toString()).toBe('4567');
    expect(within.buffer).toBe((steps[1] as Buffer).buffer);
    expect(bytes.pieceEnd(5)).toBe(8);
    expect(bytes.pieceEnd(15)).toBe(16);
    expect((await bytes.read(3, 3)).length).toBe(0);
  });

  it('fails the reads waiting, and later ones, when the steps will not come or do not fit', async () => {
    const { bytes, steps } = arriving('0123456789', 4);
    const waiting = bytes.read(0, 10);
    bytes.add(steps[0] as Buffer);
    bytes.fail(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    await expect(bytes.read(0, 2)).rejects.toThrow('gone');
    const short = arriving('0123456789', 4).bytes;
    const read = short.read(0, 10);
    short.add(Buffer.from('012'));
    await expect(read).rejects.toThrow('a step of 3 bytes where 4 were due');
  });

  it('frees the memory of the steps it owns on release, at once, and reads no more', async () => {
    const bytes = new ArrivingBytes(8, 4);
    // Steps as a thread receives them: each the whole of its memory, moved from the main thread.
    const steps = ['0123', '4567'].map((text) => Buffer.from(new TextEncoder().encode(text).buffer));
    // A view into memory shared with others is left to the garbage collector.
    const shared = Buffer.from('ab');
    const view = new ArrivingBytes(2, 2);
    view.add(shared.subarray(0, 2));
    for (const step of steps) bytes.add(step);
    expect((await bytes.read(2, 6)).toString()).toBe('2345');
    bytes.release();
    view.release();
    expect(steps.every((step) => step.buffer.detached && step.length === 0)).toBe(true);
    expect(shared.toString()).toBe('ab');
    await expect(bytes.read(0, 2)).rejects.toThrow('the steps were released');
  });

  it('keeps the scanner and the suspect search within one step: redacted as from one buffer, copying little', async () => {
    const documentOf = (exchanges: number, page = '') => ({
      // Redacted, so output and input offsets differ: the output chunks do not cut at steps.
      password: 'p'.repeat(1000),
      page,
      exchanges: Array.from({ length: exchanges }, (_, i) => ({
        url: `https://bank.example/${String(i)}?access_token=t${String(i)}`,
        body: `<p class="x">${'page '.repeat(50)}</p>`,
        headers: { authorization: `Bearer ${String(i)}`, accept: 'text/html' },
      })),
    });
    const cases = [
      { document: documentOf(40), stepBytes: 7 },
      { document: documentOf(40), stepBytes: 1000 },
      // Steps larger than the suspect search's 64 KiB window, as Redis's 1 MiB steps are.
      // A clean string that straddles a step, passed through in two pieces.
      { document: documentOf(4000, '<html>'.repeat(100_000)), stepBytes: 512 * 1024 },
    ];
    for (const { document, stepBytes } of cases) {
      const json = JSON.stringify(document);
      const want = JSON.stringify(new Redactor().redactInPlace(structuredClone(document)).value);
      const { bytes, steps } = arriving(json, stepBytes);
      for (const step of steps) bytes.add(step);
      expect(new JsonScanner(bytes).pieceEnd(stepBytes + 1)).toBe(Math.min(json.length, 2 * stepBytes));
      // Bytes copied: what reads across two steps returned.
      let copied = 0;
      const counted = {
        length: bytes.length,
        pieceEnd: (position: number) => bytes.pieceEnd(position),
        read: async (start: number, end: number) => {
          if (end > bytes.pieceEnd(start)) copied += end - start;
          return bytes.read(start, end);
        },
      };
      const chunks: Buffer[] = [];
      for await (const chunk of redactStoredJson(counted, new Redactor().pieces())) chunks.push(chunk);
      expect(Buffer.concat(chunks).toString()).toBe(want);
      // Only the values that straddle a step, and the suspect search's window at each step's end.
      if (stepBytes > 64 * 1024) expect(copied).toBeLessThan(json.length * 0.15);
    }
  });
});
