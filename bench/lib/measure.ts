/**
 * Side-by-side timing on a shared, noisy two-core machine: variants run interleaved, in a
 * rotating order, round after round, and what is reported is the median of each variant and
 * the median of the per-round ratios (a slow moment hits both sides of a round alike).
 */

export interface Variant {
  name: string;
  run: () => unknown;
  /** Untimed, after each sample: clean-up such as flushing what the runs stored. */
  afterSample?: () => unknown;
}

export interface VariantTiming {
  name: string;
  /** Median wall time of one run, ms. */
  medianMs: number;
  /** Fastest run, ms. */
  minMs: number;
  /** Wall time of one run in each round, ms. */
  samplesMs: number[];
  /** Median CPU time (user + system, whole process) of one run, ms. */
  medianCpuMs: number;
}

export interface Comparison {
  variants: Record<string, VariantTiming>;
  /** Median over rounds of `a`'s time over `b`'s time in the same round. */
  timeRatio(a: string, b: string): number;
  /** Same, with CPU time. */
  cpuRatio(a: string, b: string): number;
}

export interface CompareOptions {
  rounds: number;
  /** Each sample repeats the variant until it has taken at least this long. */
  minSampleMs: number;
  /** Untimed runs of every variant first (JIT, caches, connections). */
  warmups?: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Collects garbage when the process runs with --expose-gc (bench/run.ts starts it so). */
export function collectGarbage(): void {
  gc?.();
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

const cpuMs = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

async function timeOnce(run: () => unknown, repeat: number): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = cpuMs();
  const start = performance.now();
  for (let i = 0; i < repeat; i += 1) await run();
  return { wallMs: (performance.now() - start) / repeat, cpuMs: (cpuMs() - cpu0) / repeat };
}

/** Runs `variants` interleaved for `rounds` rounds; see the file comment. */
export async function compare(variants: readonly Variant[], options: CompareOptions): Promise<Comparison> {
  const warmups = options.warmups ?? 1;
  const repeats = new Map<string, number>();
  for (const variant of variants) {
    let last = { wallMs: 0, cpuMs: 0 };
    for (let i = 0; i < Math.max(1, warmups); i += 1) {
      last = await timeOnce(variant.run, 1);
      await variant.afterSample?.();
    }
    repeats.set(variant.name, Math.max(1, Math.ceil(options.minSampleMs / Math.max(last.wallMs, 0.01))));
  }
  const wall = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const cpu = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < options.rounds; round += 1) {
    for (let i = 0; i < variants.length; i += 1) {
      const variant = variants[(round + i) % variants.length];
      if (variant === undefined) continue;
      collectGarbage();
      const sample = await timeOnce(variant.run, repeats.get(variant.name) ?? 1);
      wall.get(variant.name)?.push(sample.wallMs);
      cpu.get(variant.name)?.push(sample.cpuMs);
      await variant.afterSample?.();
    }
  }
  const timings: Record<string, VariantTiming> = {};
  for (const variant of variants) {
    const samples = wall.get(variant.name) ?? [];
    timings[variant.name] = {
      name: variant.name,
      medianMs: median(samples),
      minMs: Math.min(...samples),
      samplesMs: samples,
      medianCpuMs: median(cpu.get(variant.name) ?? []),
    };
  }
  const ratio = (table: Map<string, number[]>) => (a: string, b: string) => {
    const as = table.get(a) ?? [];
    const bs = table.get(b) ?? [];
    return median(as.map((value, index) => value / (bs[index] ?? Number.NaN)));
  };
  return { variants: timings, timeRatio: ratio(wall), cpuRatio: ratio(cpu) };
}

/** MB/s (1 MB = 10^6 bytes) of `bytes` processed in `ms`. */
export function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/**
 * The longest time the event loop could not run a timer while `work` ran: a 1 ms ticker, and
 * the largest gap between its ticks (minus the 1 ms it asked for).
 */
export async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last - 1);
    last = now;
  }, 1);
  try {
    const result = await work();
    const now = performance.now();
    longest = Math.max(longest, now - last - 1);
    return { result, stallMs: Math.max(0, longest) };
  } finally {
    clearInterval(ticker);
  }
}

/**
 * What writing memory costs the first time (each fresh page is mapped by a fault) and once it
 * is mapped, in ms per MB: median of three fresh 64 MB blocks. Where faults are dear (a VM
 * with page-table isolation), every large buffer or string a step allocates anew pays the
 * first figure.
 */
export function memoryTouchCost(): { freshMsPerMb: number; rewriteMsPerMb: number } {
  const megabytes = 64;
  const fresh: number[] = [];
  const rewrite: number[] = [];
  for (let round = 0; round < 3; round += 1) {
    // calloc'd: the kernel maps its zero pages on first write, not before.
    const block = new Uint8Array(megabytes * 1e6);
    let started = performance.now();
    block.fill(1);
    fresh.push((performance.now() - started) / megabytes);
    started = performance.now();
    block.fill(2);
    rewrite.push((performance.now() - started) / megabytes);
  }
  return { freshMsPerMb: median(fresh), rewriteMsPerMb: median(rewrite) };
}
