import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { extname, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DebugArchiverError } from '../errors.ts';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  readonly pid: number | undefined;
  /** How it was started, relative to the current folder, for the user. */
  readonly command: string;
  /** Settles once the process is gone, however it ended. */
  readonly exited: Promise<WorkerExit>;
  /** Whether it has exited already. */
  hasExited(): boolean;
  /** The tail of what it wrote to stdout and stderr. */
  output(): string;
  /** Sends SIGTERM and waits up to `graceMs` for the exit; SIGKILL after that. */
  stop(graceMs: number): Promise<WorkerExit>;
}

const OUTPUT_TAIL_CHARS = 16_384;

/** The CLI entry next to this module: main.ts when run from the sources, main.js from dist/. */
function cliEntry(): string {
  const own = extname(fileURLToPath(import.meta.url));
  const entry = fileURLToPath(new URL(`../cli/main${own}`, import.meta.url));
  if (!existsSync(entry))
    throw new DebugArchiverError('ERR_LOCAL_SERVER', `the debug-archiver CLI is missing: ${entry}`);
  return entry;
}

/** Starts `debug-archiver worker` as a child process of this Node.js, configured by `env`. */
export function spawnWorker(env: NodeJS.ProcessEnv): WorkerProcess {
  const entry = cliEntry();
  // Flags that let this process load .ts files must reach the child too; an inspector's would
  // collide on its port.
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--inspect'));
  const child = spawn(process.execPath, [...execArgv, entry, 'worker'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let output = '';
  const capture = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout.on('data', capture);
  child.stderr.on('data', capture);

  let gone = false;
  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      capture(Buffer.from(`could not start the worker: ${error.message}\n`));
      if (child.pid === undefined) {
        gone = true;
        resolve({ code: null, signal: null });
      }
    });
  });

  const stop = async (graceMs: number): Promise<WorkerExit> => {
    if (gone) return exited;
    child.kill('SIGTERM');
    const deadline = new AbortController();
    const outcome = await Promise.race([
      exited,
      delay(graceMs, 'timeout' as const, { signal: deadline.signal }).catch(() => 'timeout' as const),
    ]);
    deadline.abort();
    if (outcome !== 'timeout') return outcome;
    child.kill('SIGKILL');
    return exited;
  };

  return {
    pid: child.pid,
    command: `node ${relative(process.cwd(), entry)} worker`,
    exited,
    hasExited: () => gone,
    output: () => output,
    stop,
  };
}
