/** RFC 3501 `date` and `date-time` syntax. */
import { ImapParseError } from '../errors.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3501 date-time `"02-Mar-2026 10:00:00 +0100"`. */
export function parseDateTime(text: string): Date {
  const match = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!match) throw new ImapParseError('Invalid date-time');
  const month = MONTHS.findIndex((m) => m.toLowerCase() === (match[2] as string).toLowerCase());
  if (month < 0) throw new ImapParseError('Invalid month');
  const offset = (Number(match[8]) * 60 + Number(match[9])) * (match[7] === '-' ? -1 : 1);
  const utc = Date.UTC(Number(match[3]), month, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]));
  return new Date(utc - offset * 60_000);
}

/** RFC 3501 date `2-Mar-2026` as a UTC day start. */
export function parseDate(text: string): Date {
  const match = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  const month = match ? MONTHS.findIndex((m) => m.toLowerCase() === (match[2] as string).toLowerCase()) : -1;
  if (!match || month < 0) throw new ImapParseError('Invalid date');
  return new Date(Date.UTC(Number(match[3]), month, Number(match[1])));
}

export function formatDateTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
