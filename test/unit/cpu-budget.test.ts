import { describe, expect, it } from 'vitest';
import { CpuBudget } from '../../src/producer/cpu-budget.ts';
import { serializeInChunks } from '../../src/producer/producer.ts';

function clockedBudget(share: number): { budget: CpuBudget; advance: (ms: number) => void } {
  let now = 0;
  return { budget: new CpuBudget(share, { now: () => now }), advance: (ms) => (now += ms) };
}

describe('CpuBudget', () => {
  it('allows a second of its share at once, then refills at its share of wall time', () => {
    const { budget, advance } = clockedBudget(0.1);
    expect(budget.allows(false)).toBe(true);
    budget.spend(101);
    expect(budget.allows(false)).toBe(false);
    // 0.1 ms of budget per ms of wall time: 9 ms buy back 0.9 of the 1 ms owed, 11 more the rest.
    advance(9);
    expect(budget.allows(false)).toBe(false);
    advance(11);
    expect(budget.allows(false)).toBe(true);
  });

  it('never holds more than one window of credit, however long it idles', () => {
    const { budget, advance } = clockedBudget(0.2);
    advance(3_600_000);
    expect(budget.allows(false)).toBe(true);
    budget.spend(200.5);
    expect(budget.allows(false)).toBe(false);
  });

  it("lets a failed task's payload run into debt of up to one window", () => {
    const { budget } = clockedBudget(0.1);
    budget.spend(150);
    expect(budget.allows(false)).toBe(false);
    expect(budget.allows(true)).toBe(true);
    budget.spend(60);
    expect(budget.allows(true)).toBe(false);
  });

  it('pays for the time its work took, even when the work throws', () => {
    let now = 0;
    const budget = new CpuBudget(0.1, { now: () => now });
    expect(
      budget.time(() => {
        now += 150;
        return 'done';
      }),
    ).toBe('done');
    expect(budget.allows(false)).toBe(false);
    now += 500;
    expect(budget.allows(false)).toBe(true);
    expect(() =>
      budget.time(() => {
        now += 200;
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(budget.allows(false)).toBe(false);
  });

  it('is off at a share of 1: always allows and reads no clock', () => {
    let reads = 0;
    const budget = new CpuBudget(1, {
      now: () => {
        reads += 1;
        return 0;
      },
    });
    budget.spend(1e9);
    expect(budget.allows(false)).toBe(true);
    expect(budget.time(() => 7)).toBe(7);
    expect(reads).toBe(1);
  });

  it('reports what it measures to onSpend, limited or not', () => {
    let now = 0;
    const spent: number[] = [];
    const budget = new CpuBudget(1, { now: () => now, onSpend: (ms) => spent.push(ms) });
    budget.time(() => (now += 12));
    budget.spend(3);
    expect(spent).toEqual([12, 3]);
    expect(budget.allows(false)).toBe(true);
  });

  it('pays for a payload serialised in slices on its own clock, each slice apart', async () => {
    let now = 0;
    const spent: number[] = [];
    // Every read of the clock moves it 5 ms on: each slice measures exactly that.
    const budget = new CpuBudget(1, { now: () => (now += 5), onSpend: (ms) => spent.push(ms) });
    const payload = { pages: Array.from({ length: 64 }, (_, i) => `${String(i)}${'x'.repeat(16 * 1024)}`) };
    const serialized = await serializeInChunks(payload, 64 * 1024 * 1024, () => true, budget);
    expect(serialized.kind).toBe('chunks');
    // About 1 MiB of JSON, a turn every 128 KiB: several slices, none measured on another clock.
    expect(spent.length).toBeGreaterThan(4);
    expect(spent.every((ms) => ms === 5)).toBe(true);
  });
});
