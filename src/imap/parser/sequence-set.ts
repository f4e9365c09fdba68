/**
 * Sequence sets (RFC 3501 `sequence-set`): `1`, `2:4`, `7:*`, comma separated. `*` means the
 * largest number in use (last sequence number or highest UID), so ranges are resolved late.
 */
import { ImapParseError } from '../errors.js';

type Bound = number | '*';
export type SequenceSet = Array<[Bound, Bound]>;

const ITEM = /^(\d{1,10}|\*)(?::(\d{1,10}|\*))?$/;

export function parseSequenceSet(text: string): SequenceSet {
  if (text === '') throw new ImapParseError('Empty sequence set');
  return text.split(',').map((item) => {
    const match = ITEM.exec(item);
    if (!match) throw new ImapParseError('Invalid sequence set');
    const first = toBound(match[1] as string);
    const second = match[2] === undefined ? first : toBound(match[2]);
    return [first, second];
  });
}

export function isSequenceSet(text: string): boolean {
  return text.split(',').every((item) => ITEM.test(item));
}

function toBound(text: string): Bound {
  if (text === '*') return '*';
  const value = Number(text);
  if (value === 0) throw new ImapParseError('Zero is not a valid message number');
  return value;
}

/** True when `value` is in the set, `max` standing for `*` (0 when the mailbox is empty). */
export function sequenceSetContains(set: SequenceSet, value: number, max: number): boolean {
  for (const [a, b] of set) {
    const low = a === '*' ? max : a;
    const high = b === '*' ? max : b;
    if (value >= Math.min(low, high) && value <= Math.max(low, high)) return true;
  }
  return false;
}

/** Formats ascending numbers compactly, e.g. [1,2,3,7] -> "1:3,7" (for COPYUID/APPENDUID). */
export function formatSequence(values: number[]): string {
  const parts: string[] = [];
  let start = values[0];
  let previous = values[0];
  for (let i = 1; i <= values.length; i++) {
    const value = values[i];
    if (value !== undefined && previous !== undefined && value === previous + 1) {
      previous = value;
      continue;
    }
    if (start !== undefined && previous !== undefined) parts.push(start === previous ? `${start}` : `${start}:${previous}`);
    start = value;
    previous = value;
  }
  return parts.join(',');
}
