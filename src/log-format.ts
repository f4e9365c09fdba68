/**
 * Readable log lines for a terminal, made from pino's own JSON line: the same fields, so the same
 * redaction (src/log.ts) and nothing a JSON line would not carry — never a patient byte in either.
 * Our own few lines rather than pino-pretty: one small synchronous function instead of a dozen
 * packages and a worker thread, and nothing lost when the process stops.
 *
 *   01:23:45.678 INFO  medgate started  node=node1 store=postgres ports={"http":8080}
 */

const LEVELS: Record<number, { name: string; colour: string }> = {
  10: { name: 'TRACE', colour: '\x1b[90m' },
  20: { name: 'DEBUG', colour: '\x1b[36m' },
  30: { name: 'INFO ', colour: '\x1b[32m' },
  40: { name: 'WARN ', colour: '\x1b[33m' },
  50: { name: 'ERROR', colour: '\x1b[31m' },
  60: { name: 'FATAL', colour: '\x1b[41m\x1b[97m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** Said once per line, or not worth the room on a terminal. */
const SKIPPED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One JSON log line (as pino writes it) as one readable line; what is not JSON is passed through. */
export function prettyLogLine(json: string, colour: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = LEVELS[rec.level as number] ?? { name: String(rec.level).padEnd(5), colour: '' };
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : new Date(Number(rec.time)).toISOString().slice(11, 23);
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(rec)) {
    if (SKIPPED.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown; code?: unknown };
      fields.push(`err=${value(e.message ?? '')}${e.code ? ` code=${value(e.code)}` : ''}`);
      // pino's error serializer gives the stack; it names code locations only.
      if (typeof e.stack === 'string') stack = `\n    ${e.stack.split('\n').slice(1).map((l) => l.trim()).join('\n    ')}`;
      continue;
    }
    fields.push(`${k}=${value(v)}`);
  }
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const head = colour ? `${DIM}${time}${RESET} ${level.colour}${level.name}${RESET}` : `${time} ${level.name}`;
  const rest = fields.length ? (colour ? `  ${DIM}${fields.join(' ')}${RESET}` : `  ${fields.join(' ')}`) : '';
  return `${head} ${msg}${rest}${stack}\n`;
}
