import { setFlagsFromString } from 'node:v8';

/** The V8 flag the worker process starts with (tuneWorkerGc). */
export const EXTERNAL_MEMORY_FLAG = 'external-memory-accounted-in-global-limit';

/** The first V8 with the flag, Node 24's: Node 22's V8 (12.4) does not know it. */
const FIRST_V8: readonly [number, number] = [13, 6];

const mentioned = new RegExp(EXTERNAL_MEMORY_FLAG.replaceAll('-', '[-_]'));

/**
 * Has V8 count memory outside its heap (Buffers, zlib's state) within its global allocation
 * limit, instead of starting a full mark-compact whenever 64 MB more of it has been allocated
 * since the last one. The consumer allocates several times each payload's size in Buffers that
 * live for a moment (Redis replies, gzip blocks and state, base64, upload parts). Archiving
 * 120 MB of 10 MB and 1 MB payloads with V8's defaults took 12 full collections, and V8's
 * helper threads 7.2 ms of CPU per MB, a sixth of the consumer's; with the flag 3 and 3.9 ms,
 * for 1.09x the throughput and 0.89x the CPU per MB (12 rounds; four runs of 6 gave 0.87x to
 * 0.98x), and a peak RSS of 472 MB against 338: dead Buffers wait longer (bench/RESULTS.md,
 * benchmark 6).
 *
 * For the worker process only, since the flag is process-wide: a library user's process keeps
 * V8's defaults. Not set when the process was started with the flag either way (node
 * `--no-external-memory-accounted-in-global-limit` keeps V8's default), or on a V8 without it.
 * Returns whether it set the flag.
 */
export function tuneWorkerGc(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  v8Version: string = process.versions.v8,
): boolean {
  if (execArgv.some((flag) => mentioned.test(flag)) || mentioned.test(nodeOptions)) return false;
  const [major = 0, minor = 0] = v8Version.split('.').map(Number);
  if (major < FIRST_V8[0] || (major === FIRST_V8[0] && minor < FIRST_V8[1])) return false;
  setFlagsFromString(`--${EXTERNAL_MEMORY_FLAG}`);
  return true;
}
