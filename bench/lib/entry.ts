import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchResult } from './report.ts';
import { stopAll } from './services.ts';

export interface BenchContext {
  /** CI smoke: fewer sizes, rounds and seconds. */
  quick: boolean;
  log(message: string): void;
}

export type BenchBody = (ctx: BenchContext) => Promise<Omit<BenchResult, 'seconds' | 'load' | 'date'>>;

/**
 * Runs one benchmark file as its own process: `node --expose-gc bench/<name>.ts [--quick]
 * [--result file.json]`. Whatever it started (redis-server, s3rver, child processes) is stopped
 * before it exits, also on failure or SIGINT/SIGTERM.
 */
export async function runBench(id: string, body: BenchBody): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, result: { type: 'string' } },
    allowPositionals: true,
  });
  const quick = values.quick;
  const t0 = performance.now();
  const log = (message: string): void => {
    process.stderr.write(`[${id} ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}\n`);
  };
  const stopOnSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping what was started`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  const load0 = loadavg()[0] ?? 0;
  const started = performance.now();
  try {
    const result = await body({ quick, log });
    const full: BenchResult = {
      ...result,
      seconds: (performance.now() - started) / 1000,
      date: new Date().toISOString(),
      load: [load0, loadavg()[0] ?? 0],
    };
    if (values.result !== undefined) await writeFile(values.result, JSON.stringify(full, null, 2));
    else process.stdout.write(`${full.markdown}\n`);
    log(`done in ${full.seconds.toFixed(1)} s`);
  } catch (error) {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}
