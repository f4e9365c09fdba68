/**
 * Encoding of server responses. Values are written as NIL, numbers, atoms, quoted strings or
 * literals: a string is quoted only when it is short printable ASCII, otherwise it goes out as a
 * literal so any byte (8-bit headers, message bodies) is transmitted exactly.
 */
import { encodeMailboxName } from './utf7.js';

export class Atom {
  constructor(readonly value: string) {}
}

export class Literal {
  /** `binary` writes a literal8 (`~{n}`, RFC 3516) for content that may hold NUL bytes. */
  constructor(
    readonly value: Buffer,
    readonly binary = false,
  ) {}
}

/** Values written one after the other without spaces (RFC 3501 `1*address`, `1*body`). */
export class Concat {
  constructor(readonly items: ImapValue[]) {}
}

export type ImapValue = null | number | string | Buffer | Atom | Literal | Concat | ImapValue[];

export const atom = (value: string): Atom => new Atom(value);
export const literal = (value: Buffer, binary = false): Literal => new Literal(value, binary);
export const concat = (items: ImapValue[]): Concat => new Concat(items);

const MAX_QUOTED = 1000;

function canQuote(bytes: Buffer): boolean {
  if (bytes.length > MAX_QUOTED) return false;
  for (const byte of bytes) if (byte < 0x20 || byte > 0x7e) return false;
  return true;
}

function quote(text: string): string {
  return '"' + text.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function pushValue(value: ImapValue, out: Array<string | Buffer>): void {
  if (value === null) out.push('NIL');
  else if (typeof value === 'number') out.push(String(value));
  else if (value instanceof Atom) out.push(value.value);
  else if (value instanceof Concat) value.items.forEach((item) => pushValue(item, out));
  else if (value instanceof Literal) out.push(`${value.binary ? '~' : ''}{${value.value.length}}\r\n`, value.value);
  else if (Array.isArray(value)) {
    out.push('(');
    value.forEach((item, i) => {
      if (i > 0) out.push(' ');
      pushValue(item, out);
    });
    out.push(')');
  } else {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (canQuote(bytes)) out.push(quote(bytes.toString('latin1')));
    else out.push(`{${bytes.length}}\r\n`, bytes);
  }
}

/** Serialises values separated by spaces (no line ending). */
export function encodeValues(values: ImapValue[]): Buffer {
  const out: Array<string | Buffer> = [];
  values.forEach((value, i) => {
    if (i > 0) out.push(' ');
    pushValue(value, out);
  });
  return Buffer.concat(out.map((piece) => (typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece)));
}

/** `* <values>\r\n` */
export function untagged(...values: ImapValue[]): Buffer {
  return Buffer.concat([Buffer.from('* '), encodeValues(values), Buffer.from('\r\n')]);
}

/** A mailbox name as sent to clients: modified UTF-7, `INBOX` upper-case. */
export function mailboxValue(name: string): ImapValue {
  return encodeMailboxName(name);
}

/** A plain status line `tag OK [CODE] text` (text is ours, ASCII only). */
export function statusLine(tag: string, status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH', text: string, code?: string): Buffer {
  const codePart = code ? `[${code}] ` : '';
  return Buffer.from(`${tag} ${status} ${codePart}${text.replace(/[\r\n]/g, ' ')}\r\n`, 'utf8');
}
