import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The logger used when none is passed: JSON lines on stderr, warnings and worse. */
export function createDefaultLogger(level = 'warn'): Logger {
  return pino({ name: 'debug-archiver', level }, pino.destination(2));
}
