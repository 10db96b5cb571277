import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { GO_LINE, READY_LINE, type BurstConfig, type BurstResult } from './burst-protocol.ts';
import type { LeakGuard } from './leak-guard.ts';
import { ProcessOutput, waitForExit, waitForLine } from './processes.ts';

const BURST_SCRIPT = fileURLToPath(new URL('./enqueue-burst.ts', import.meta.url));

/**
 * Starts one producer process per config, waits until all are connected, sends `go` to all in
 * the same tick and returns what each reported.
 */
export async function burst(guard: LeakGuard, configs: readonly BurstConfig[]): Promise<BurstResult[]> {
  const children = configs.map((config) => {
    const child = guard.spawn(process.execPath, [BURST_SCRIPT, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return { child, output: new ProcessOutput(child) };
  });
  await Promise.all(
    children.map(({ child, output }) =>
      waitForLine(child, output, (line) => line === READY_LINE, 20_000, 'a burst child to connect'),
    ),
  );
  for (const { child } of children) child.stdin?.write(`${GO_LINE}\n`);
  const results: BurstResult[] = [];
  for (const { child, output } of children) {
    const exit = await waitForExit(child, 30_000, 'a burst child');
    expect(exit, `burst child stderr: ${output.stderr}`).toEqual({ code: 0, signal: null });
    const line = output.stdoutLines.find((text) => text.startsWith('{'));
    if (line === undefined) throw new Error(`burst child printed no result; stderr: ${output.stderr}`);
    results.push(JSON.parse(line) as BurstResult);
  }
  return results;
}
