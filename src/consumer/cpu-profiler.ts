import { mkdir, rename, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Express } from 'express';
import type { Logger } from '../logger.ts';

/** Longest profile the HTTP route records: longer ones make files too large to open comfortably. */
export const MAX_PROFILE_SECONDS = 300;

/** A profile was asked for while another one is being recorded. */
export class ProfilerBusyError extends Error {
  constructor() {
    super('a CPU profile is already being recorded');
    this.name = 'ProfilerBusyError';
  }
}

/** A profile was asked for after `close`: the process is shutting down. */
export class ProfilerClosedError extends Error {
  constructor() {
    super('the process is shutting down; no more CPU profiles');
    this.name = 'ProfilerClosedError';
  }
}

interface Recording {
  session: Session;
  /** Settles once the profiler runs; `stop` waits for it, so a stop right after a start is safe. */
  started: Promise<void>;
  /** Set by the first `stop`; later calls share it instead of stopping twice. */
  stopped?: Promise<string>;
  /** Ends the wait of `record` early (at shutdown). */
  cutShort: AbortController;
}

/**
 * Records CPU profiles of this process with V8's sampling profiler (through `node:inspector`,
 * no `--inspect` flag needed) and writes each as a `.cpuprofile` file, the format Chrome
 * DevTools, speedscope and VS Code open. One recording at a time: V8 profiles the whole
 * process, so a second one would only duplicate the first.
 */
export class CpuProfiler {
  /** Absolute folder the files go to; made on the first write. */
  readonly directory: string;
  #recording: Recording | undefined;
  #closed = false;

  constructor(options: { directory: string }) {
    this.directory = resolve(options.directory);
  }

  /** True from `start` until the file of that recording is written. */
  get recording(): boolean {
    return this.#recording !== undefined;
  }

  /**
   * Starts recording; throws ProfilerBusyError while a recording is under way and
   * ProfilerClosedError after `close`.
   */
  async start(): Promise<void> {
    await this.#begin();
  }

  /** Stops the recording under way and writes it; returns the file's absolute path. */
  stop(): Promise<string> {
    const recording = this.#recording;
    if (recording === undefined) return Promise.reject(new Error('no CPU profile is being recorded'));
    return this.#end(recording);
  }

  /**
   * Records for `seconds` and writes the file; returns its path. Throws ProfilerBusyError while
   * another recording is under way. `close` ends the wait early and still writes what was recorded.
   */
  async record(seconds: number): Promise<string> {
    const recording = await this.#begin();
    await delay(seconds * 1_000, undefined, { signal: recording.cutShort.signal }).catch(() => undefined);
    return this.#end(recording);
  }

  /**
   * Refuses new recordings and ends the one under way now, writing it: a shutdown neither waits
   * out a long profile nor loses it. Resolves with its path, or undefined when none was under way.
   */
  async close(): Promise<string | undefined> {
    this.#closed = true;
    const recording = this.#recording;
    if (recording === undefined) return undefined;
    recording.cutShort.abort();
    return this.#end(recording);
  }

  async #begin(): Promise<Recording> {
    if (this.#closed) throw new ProfilerClosedError();
    if (this.#recording !== undefined) throw new ProfilerBusyError();
    const session = new Session();
    // Claimed before the first await, so a start racing this one sees it busy.
    const recording: Recording = {
      session,
      started: (async () => {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      })(),
      cutShort: new AbortController(),
    };
    this.#recording = recording;
    try {
      await recording.started;
    } catch (error) {
      this.#recording = undefined;
      session.disconnect();
      throw error;
    }
    return recording;
  }

  /** The first call stops and writes; later ones (a stop racing a close) share its result. */
  #end(recording: Recording): Promise<string> {
    recording.stopped ??= this.#finish(recording);
    return recording.stopped;
  }

  async #finish(recording: Recording): Promise<string> {
    const { session } = recording;
    try {
      await recording.started;
      const { profile } = await session.post('Profiler.stop');
      await session.post('Profiler.disable');
      await mkdir(this.directory, { recursive: true });
      // Colons are not allowed in Windows file names, where the file may be opened.
      const stamp = new Date().toISOString().replaceAll(':', '-');
      const path = join(this.directory, `cpu-${stamp}-${process.pid}.cpuprofile`);
      // Renamed into place once complete, so whoever watches the folder never reads half a file.
      const partial = `${path}.partial`;
      await writeFile(partial, JSON.stringify(profile));
      await rename(partial, path);
      return path;
    } finally {
      session.disconnect();
      this.#recording = undefined;
    }
  }
}

/** `seconds` from the query: absent gives the default; anything but a whole 1..300 is undefined. */
function parseSeconds(value: unknown, defaultSeconds: number): number | undefined {
  if (value === undefined) return defaultSeconds;
  if (typeof value !== 'string' || !/^\d{1,3}$/.test(value)) return undefined;
  const seconds = Number(value);
  return seconds >= 1 && seconds <= MAX_PROFILE_SECONDS ? seconds : undefined;
}

/**
 * `POST /debug/cpu-profile?seconds=N` (1..300, default `defaultSeconds`): records a profile for
 * N seconds and answers `{ path, seconds }` once the file is written; 409 while another one is
 * being recorded, 503 once the process is shutting down, 400 for a bad N.
 */
export function mountCpuProfileRoute(
  app: Express,
  profiler: CpuProfiler,
  options: { defaultSeconds: number; logger: Logger },
): void {
  app.post('/debug/cpu-profile', (request, response, next) => {
    const seconds = parseSeconds(request.query.seconds, options.defaultSeconds);
    if (seconds === undefined) {
      response.status(400).json({ error: `seconds must be a whole number from 1 to ${MAX_PROFILE_SECONDS}` });
      return;
    }
    profiler
      .record(seconds)
      .then((path) => {
        options.logger.info({ path, seconds, via: 'http' }, 'CPU profile written');
        response.json({ path, seconds });
      })
      .catch((error: unknown) => {
        if (error instanceof ProfilerBusyError || error instanceof ProfilerClosedError) {
          response.status(error instanceof ProfilerBusyError ? 409 : 503).json({ error: error.message });
          return;
        }
        next(error);
      });
  });
}
