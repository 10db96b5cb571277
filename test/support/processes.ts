import type { ChildProcess } from 'node:child_process';
import { waitFor } from './wait.ts';

/** Everything a child printed so far, kept as it arrives. */
export class ProcessOutput {
  stdout = '';
  stderr = '';

  constructor(child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  get stdoutLines(): string[] {
    return this.stdout.split('\n').filter((line) => line.length > 0);
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child exits (at once if it already has); rejects after `timeoutMs`. */
export async function waitForExit(
  child: ChildProcess,
  timeoutMs: number,
  what = 'the child process',
): Promise<Exit> {
  const exit = new Promise<Exit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  let settled: Exit | undefined;
  void exit.then((value) => (settled = value));
  return waitFor(() => settled, { what: `${what} to exit`, timeoutMs, intervalMs: 20 });
}

/** Waits until the child printed a stdout line matching `test`; fails early if it exits. */
export async function waitForLine(
  child: ChildProcess,
  output: ProcessOutput,
  test: (line: string) => boolean,
  timeoutMs: number,
  what: string,
): Promise<string> {
  return waitFor(
    () => {
      const line = output.stdoutLines.find(test);
      if (line !== undefined) return line;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${what}: the child exited (${child.exitCode ?? child.signalCode}) first; stderr: ${output.stderr}`,
        );
      }
      return undefined;
    },
    { what, timeoutMs, intervalMs: 20 },
  );
}
