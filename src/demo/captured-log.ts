import { pino } from 'pino';
import type { Logger } from '../logger.ts';

const KEPT_LINES = 20;

/**
 * A logger whose lines are kept instead of written, so the producer's warnings do not tear
 * through the progress bar; the demo prints them once the bar is gone.
 */
export function createCapturedLogger(name: string): { logger: Logger; messages(): string[] } {
  const lines: string[] = [];
  const logger = pino(
    { name, level: 'warn' },
    {
      write: (line: string) => {
        lines.push(line);
        if (lines.length > KEPT_LINES) lines.shift();
      },
    },
  );
  const messages = (): string[] =>
    lines.map((line) => {
      const entry = JSON.parse(line) as { msg?: string; detail?: string; err?: string; suppressed?: number };
      const detail = entry.detail ?? entry.err;
      const more = entry.suppressed ? ` (+${entry.suppressed} similar)` : '';
      return `${entry.msg ?? line}${detail === undefined ? '' : `: ${detail}`}${more}`;
    });
  return { logger, messages };
}
