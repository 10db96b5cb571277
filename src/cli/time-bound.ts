import { DebugArchiverError } from '../errors.ts';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `2h`, `30m`, `7d` (that long before `now`) or an ISO 8601 time. */
export function parseTimeBound(text: string, now: Date, option: string): Date {
  const duration = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (duration) return new Date(now.getTime() - Number(duration[1]) * (UNITS[duration[2] ?? 's'] ?? 0));
  const time = new Date(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(time.getTime())) return time;
  throw new DebugArchiverError(
    'ERR_INVALID_CONFIG',
    `${option} ${JSON.stringify(text)}: expected a duration like 30m, 2h, 7d or an ISO time like 2026-11-23T10:00:00Z`,
  );
}
