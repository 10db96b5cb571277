import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/local/free-port.ts';
import { LeakGuard } from '../support/leak-guard.ts';
import { waitForExit } from '../support/processes.ts';

describe('the leak guard itself', () => {
  it('fails naming what a test left open, and releases it', async () => {
    const guard = new LeakGuard();
    const deadUrl = `redis://127.0.0.1:${await freePort()}`;
    guard.producer({ redisUrl: deadUrl, queueName: 'leak-guard-left-open' });
    const closed = guard.producer({ redisUrl: deadUrl, queueName: 'leak-guard-closed' });
    const child = guard.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await closed.close();

    await expect(guard.verify()).rejects.toThrow(
      /producer of queue leak-guard-left-open; child process .*node/,
    );
    expect((await waitForExit(child, 5_000)).signal).toBe('SIGKILL');
    // Everything was released by the failing check: the next one passes.
    await expect(guard.verify()).resolves.toBeUndefined();
  });

  it('passes when everything made through it was closed or has exited', async () => {
    const guard = new LeakGuard();
    const producer = guard.producer({
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      queueName: 'leak-guard-ok',
    });
    const child = guard.spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    expect((await waitForExit(child, 10_000)).code).toBe(0);
    await producer.close();
    await expect(guard.verify()).resolves.toBeUndefined();
  });
});
