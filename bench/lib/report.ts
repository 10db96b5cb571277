/** What one benchmark hands back to bench/run.ts, which assembles bench/RESULTS.md. */

export interface Headline {
  /** The benchmark's number in the issue (1-7) and a short name of the measurement. */
  benchmark: string;
  metric: string;
  goal: string;
  measured: string;
  /** Met, not met, or undefined when there is no goal (informational). */
  met: boolean | undefined;
}

export interface Chart {
  /** File name under the charts folder, e.g. `gzip-levels.svg`. */
  file: string;
  title: string;
  svg: string;
}

export interface BenchResult {
  id: string;
  title: string;
  /** Markdown of the section, without its heading; charts are linked as `charts/<file>`. */
  markdown: string;
  headline: Headline[];
  charts: Chart[];
  /** Proposed changes outside bench/ and src/encoding, with their numbers. */
  proposals: string[];
  /** Markdown for RESULTS.md's "tuning landed" section (before/after), when the benchmark has one. */
  tuning?: string;
  seconds: number;
  /** When it finished (ISO 8601). */
  date: string;
  /** Load average (1 min) at start and end: the machine is shared. */
  load: [number, number];
  /**
   * What writing a fresh page cost, ms per MB, on the machine of the invocation that ran it:
   * the VM it runs on varies between sessions (0.5 to 3.3 ms), and allocation-heavy steps with it.
   */
  freshPageMsPerMb?: number;
  /** The CPU of the machine that ran it (sections recorded before 2026-11-25 lack it). */
  cpuModel?: string | undefined;
}

export const fixed = (value: number, digits = 2): string =>
  Number.isFinite(value) ? value.toFixed(digits) : 'n/a';

export const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');

export const percent = (share: number): string =>
  Number.isFinite(share) ? `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%` : 'n/a';

export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes >= 10e6 ? 0 : 1)} MB`;

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export const verdict = (met: boolean | undefined): string =>
  met === undefined ? '—' : met ? '**met**' : '**not met**';
