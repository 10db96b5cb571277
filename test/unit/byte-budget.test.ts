import { describe, expect, it } from 'vitest';
import { ByteBudget } from '../../src/consumer/byte-budget.ts';

describe('ByteBudget', () => {
  it('grants what fits at once and the rest in order as bytes are released', async () => {
    const budget = new ByteBudget(100);
    const first = await budget.acquire(60);
    const order: string[] = [];
    const second = budget.acquire(50).then((release) => {
      order.push('second');
      return release;
    });
    const third = budget.acquire(10).then((release) => {
      order.push('third');
      return release;
    });
    await Promise.resolve();
    // The third would fit, but it waits behind the second: no starving of large payloads.
    expect(order).toEqual([]);
    expect(budget.held).toBe(60);
    first();
    first();
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    expect(budget.held).toBe(0);
  });

  it('runs a request larger than the whole budget alone rather than never', async () => {
    const budget = new ByteBudget(100);
    const small = await budget.acquire(10);
    let granted = false;
    const huge = budget.acquire(1_000).then((release) => {
      granted = true;
      return release;
    });
    await Promise.resolve();
    expect(granted).toBe(false);
    small();
    const release = await huge;
    expect(budget.held).toBe(1_000);
    release();
    expect(budget.held).toBe(0);
  });

  it('gives up a wait when its signal aborts, and lets the next in line through', async () => {
    const budget = new ByteBudget(100);
    const held = await budget.acquire(90);
    const controller = new AbortController();
    const aborted = budget.acquire(50, controller.signal);
    const after = budget.acquire(5);
    controller.abort(new Error('shutting down'));
    await expect(aborted).rejects.toThrow('shutting down');
    (await after)();
    held();
    expect(budget.held).toBe(0);
    await expect(budget.acquire(1, controller.signal)).rejects.toThrow('shutting down');
  });
});
