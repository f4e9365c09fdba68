import tty from 'node:tty';
import pino, { type Logger } from 'pino';
import { prettyLogLine } from './log-format.js';

export type { Logger };

/** `auto`: readable lines when the log goes to a terminal, JSON lines otherwise (a file, a pipe, a collector). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Where log lines go: a standard stream, or a sink that takes each JSON line (the in-process test gateway). */
export type LogDestination = 'stdout' | 'stderr' | { write(line: string): void };

/**
 * Structured logs: JSON lines, or the same records as readable lines on a terminal
 * (src/log-format.ts). Callers log message ids, addresses, codes and decisions — never message
 * content or patient data; the redact list is a second line of defence for fields that must not
 * leak, and applies to both forms (the readable line is made from the redacted JSON).
 */
export function createLogger(level: string, destination: LogDestination = 'stdout', format: LogFormat = 'auto'): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'medgate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'subject', '*.subject', 'patient', '*.patient', 'body', '*.body', 'raw'], censor: '[redacted]' },
  };
  if (typeof destination === 'object') return pino(options, destination);
  const fd = destination === 'stdout' ? 1 : 2;
  const out = pino.destination({ fd, sync: true });
  const pretty = format === 'pretty' || (format === 'auto' && tty.isatty(fd));
  if (!pretty) return pino(options, out);
  // Colours only for a terminal that wants them (https://no-color.org).
  const colour = tty.isatty(fd) && !process.env['NO_COLOR'];
  return pino(options, { write: (line: string) => { out.write(prettyLogLine(line, colour)); } });
}
