import cliProgress from 'cli-progress';
import { formatBytes } from './format.ts';

export interface ProgressState {
  tasks: number;
  /** Tasks whose enqueue resolved, queued or dropped. */
  finished: number;
  queued: number;
  dropped: number;
  archived: number;
  waitingBytes: number;
}

export interface ProgressView {
  update(state: ProgressState): void;
  /** Ends the display; later output starts on a fresh line. */
  stop(): void;
}

const LINE_INTERVAL_MS = 1_000;

function barView(out: NodeJS.WriteStream, tasks: number): ProgressView {
  const bars = new cliProgress.MultiBar(
    {
      stream: out,
      format: '{label} [{bar}] {value}/{total}  {detail}',
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const enqueued = bars.create(tasks, 0, { label: 'enqueued', detail: '' });
  const archived = bars.create(tasks, 0, { label: 'archived', detail: '' });
  return {
    update: (state) => {
      enqueued.update(state.finished, { detail: `queued ${state.queued}, dropped ${state.dropped}` });
      // Until every task is in, the archive target is the tasks; then what was actually queued.
      if (state.finished === state.tasks) archived.setTotal(state.queued);
      archived.update(state.archived, { detail: `${formatBytes(state.waitingBytes)} waiting in Redis` });
    },
    stop: () => {
      bars.stop();
    },
  };
}

function lineView(out: NodeJS.WritableStream): ProgressView {
  const started = Date.now();
  let printedAt = 0;
  let last: ProgressState | undefined;
  let printed: ProgressState | undefined;
  const print = (state: ProgressState): void => {
    printed = state;
    printedAt = Date.now();
    const seconds = ((printedAt - started) / 1_000).toFixed(1);
    out.write(
      `[${seconds.padStart(5)} s] enqueued ${state.finished}/${state.tasks} (queued ${state.queued}, dropped ${state.dropped}), ` +
        `archived ${state.archived}/${state.queued}, ${formatBytes(state.waitingBytes)} waiting in Redis\n`,
    );
  };
  return {
    update: (state) => {
      last = state;
      if (Date.now() - printedAt >= LINE_INTERVAL_MS) print(state);
    },
    stop: () => {
      if (last !== undefined && last !== printed) print(last);
    },
  };
}

/**
 * A two-bar display on a terminal; elsewhere (a pipe, a log file) a status line about every
 * second. Updates after stop() are ignored and stop() may be called again.
 */
export function createProgressView(out: NodeJS.WriteStream, tasks: number): ProgressView {
  const view = out.isTTY ? barView(out, tasks) : lineView(out);
  let stopped = false;
  return {
    update: (state) => {
      if (!stopped) view.update(state);
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      view.stop();
    },
  };
}
