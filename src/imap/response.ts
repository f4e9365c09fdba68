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

/** The same rule on a string: printable ASCII only (any other character is more than one byte or a control). */
function canQuoteText(text: string): boolean {
  if (text.length > MAX_QUOTED) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function quote(text: string): string {
  return '"' + text.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/**
 * The bytes of one response, gathered once: ASCII text accumulates in a string, and each literal's
 * bytes are kept as they are, so a FETCH of a message body copies the body once (into the response)
 * instead of once per nesting level, and the many short values of an ENVELOPE make one Buffer.
 */
class ResponseBytes {
  private readonly parts: Buffer[] = [];
  private text = '';

  ascii(piece: string): void {
    this.text += piece;
  }

  bytes(piece: Buffer): void {
    if (this.text) {
      this.parts.push(Buffer.from(this.text, 'latin1'));
      this.text = '';
    }
    this.parts.push(piece);
  }

  done(): Buffer {
    if (this.text) this.parts.push(Buffer.from(this.text, 'latin1'));
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
  }
}

function pushValue(value: ImapValue, out: ResponseBytes): void {
  if (value === null) out.ascii('NIL');
  else if (typeof value === 'number') out.ascii(String(value));
  else if (value instanceof Atom) out.ascii(value.value);
  else if (value instanceof Concat) value.items.forEach((item) => pushValue(item, out));
  else if (value instanceof Literal) {
    out.ascii(`${value.binary ? '~' : ''}{${value.value.length}}\r\n`);
    out.bytes(value.value);
  } else if (Array.isArray(value)) {
    out.ascii('(');
    value.forEach((item, i) => {
      if (i > 0) out.ascii(' ');
      pushValue(item, out);
    });
    out.ascii(')');
  } else if (typeof value === 'string') {
    if (canQuoteText(value)) out.ascii(quote(value));
    else {
      const bytes = Buffer.from(value, 'utf8');
      out.ascii(`{${bytes.length}}\r\n`);
      out.bytes(bytes);
    }
  } else if (canQuote(value)) out.ascii(quote(value.toString('latin1')));
  else {
    out.ascii(`{${value.length}}\r\n`);
    out.bytes(value);
  }
}

function pushValues(values: ImapValue[], out: ResponseBytes): void {
  values.forEach((value, i) => {
    if (i > 0) out.ascii(' ');
    pushValue(value, out);
  });
}

/** Serialises values separated by spaces (no line ending). */
export function encodeValues(values: ImapValue[]): Buffer {
  const out = new ResponseBytes();
  pushValues(values, out);
  return out.done();
}

/** `* <values>\r\n` */
export function untagged(...values: ImapValue[]): Buffer {
  const out = new ResponseBytes();
  out.ascii('* ');
  pushValues(values, out);
  out.ascii('\r\n');
  return out.done();
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
