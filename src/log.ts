import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Callers log message ids, addresses, codes and decisions — never message
 * content or patient data; the redact list is a second line of defence for fields that must not leak.
 */
export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  return pino(
    {
      level,
      base: { service: 'medgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'subject', '*.subject', 'patient', '*.patient', 'body', '*.body', 'raw'], censor: '[redacted]' },
    },
    pino.destination({ fd: destination === 'stdout' ? 1 : 2, sync: true }),
  );
}
