/**
 * Turns a framed command (text lines joined by literals) into a tag, a command name and a token
 * tree: atoms, strings (quoted or literal, kept as bytes) and parenthesised lists. Fetch attributes
 * such as `BODY.PEEK[1.HEADER.FIELDS (FROM TO)]<0.512>` are atoms with a parsed section and partial.
 */
import { ImapParseError } from '../errors.js';
import type { CommandPart } from './command-reader.js';

export interface Section {
  /** Text between the brackets before any field list, upper-cased, e.g. `1.HEADER.FIELDS`. */
  spec: string;
  /** Header field names of HEADER.FIELDS (NOT). */
  fields?: string[];
}

export type Token =
  | { type: 'atom'; value: string; section?: Section; partial?: { start: number; length?: number } }
  | { type: 'string'; value: Buffer; literal: boolean }
  | { type: 'list'; items: Token[] };

export interface ParsedCommand {
  tag: string;
  /** Upper-cased command name; `UID FETCH` etc. are kept as `UID` with the sub-command in args. */
  name: string;
  args: Token[];
}

const SP = 0x20;
const LITERAL_MARKER = /^\{(\d+)\+?\}$/;
const TAG_CHARS = /^[^\s(){%*"\\+\]\x00-\x1f\x7f]+$/;

class Cursor {
  private partIndex = 0;
  private pos = 0;

  constructor(private readonly parts: CommandPart[]) {}

  private get text(): Buffer {
    const part = this.parts[this.partIndex];
    return part && part.kind === 'text' ? part.data : Buffer.alloc(0);
  }

  atEnd(): boolean {
    return this.pos >= this.text.length && this.partIndex >= this.parts.length - 1;
  }

  peek(offset = 0): number | undefined {
    return this.text[this.pos + offset];
  }

  next(): number | undefined {
    const byte = this.text[this.pos];
    if (byte !== undefined) this.pos++;
    return byte;
  }

  /** If the rest of this text part is a literal marker, consumes it and the literal bytes. */
  takeLiteral(): Buffer | null {
    const rest = this.text.subarray(this.pos).toString('latin1');
    if (!LITERAL_MARKER.test(rest)) return null;
    const literal = this.parts[this.partIndex + 1];
    if (!literal || literal.kind !== 'literal') throw new ImapParseError('Literal data missing');
    this.partIndex += 2;
    this.pos = 0;
    return literal.data;
  }
}

export class Tokenizer {
  private readonly cursor: Cursor;
  /** Upper-cased command name, known before the arguments are read (literal8 depends on it). */
  private command = '';
  /** Index in the top-level arguments of the literal8 read, if any. */
  private literal8At = -1;
  private argIndex = -1;

  constructor(
    parts: CommandPart[],
    private readonly maxDepth: number,
  ) {
    this.cursor = new Cursor(parts);
  }

  parseCommand(): ParsedCommand {
    const tag = this.readBareWord();
    if (!tag || !TAG_CHARS.test(tag)) throw new ImapParseError('Invalid tag');
    this.expectSpace();
    const name = this.readBareWord().toUpperCase();
    if (!/^[A-Z0-9.-]+$/.test(name)) throw new ImapParseError('Invalid command name');
    this.command = name;
    const args: Token[] = [];
    while (!this.cursor.atEnd()) {
      this.expectSpace();
      this.argIndex = args.length;
      args.push(this.readToken(0));
    }
    // RFC 3516: `append-data = literal8` is APPEND's last argument (the message), never the mailbox.
    if (this.literal8At !== -1 && (this.literal8At === 0 || this.literal8At !== args.length - 1)) {
      throw new ImapParseError('literal8 is only allowed for the APPEND message');
    }
    return { tag, name, args };
  }

  /** Reads the first word of a command (tag) without interpreting brackets. */
  private readBareWord(): string {
    let word = '';
    for (let byte = this.cursor.peek(); byte !== undefined && byte !== SP; byte = this.cursor.peek()) {
      word += String.fromCharCode(this.cursor.next() as number);
    }
    return word;
  }

  private expectSpace(): void {
    if (this.cursor.next() !== SP) throw new ImapParseError('Expected a space');
  }

  private readToken(depth: number): Token {
    const byte = this.cursor.peek();
    if (byte === undefined) throw new ImapParseError('Unexpected end of command');
    if (byte === 0x28 /* ( */) return this.readList(depth + 1);
    if (byte === 0x22 /* " */) return { type: 'string', value: this.readQuoted(), literal: false };
    if (byte === 0x7e /* ~ */ && this.cursor.peek(1) === 0x7b /* { */) return this.readLiteral8(depth);
    if (byte === 0x7b /* { */) {
      const literal = this.cursor.takeLiteral();
      if (literal) return { type: 'string', value: literal, literal: true };
      throw new ImapParseError('Invalid literal');
    }
    return this.readAtom(depth);
  }

  /**
   * `~{n}` / `~{n+}` is a literal8 (RFC 3516), allowed only as APPEND's message. Any other atom that
   * starts with `~` (`LIST "" ~foo`, a home-directory style name) is an ordinary atom: `~` is an
   * ATOM-CHAR. The reader has already taken the literal bytes of a `{n}` at the end of the line,
   * so refusing here leaves the stream in sync.
   */
  private readLiteral8(depth: number): Token {
    this.cursor.next(); // ~
    const literal = this.cursor.takeLiteral();
    if (!literal) throw new ImapParseError('Invalid literal8');
    if (this.command !== 'APPEND' || depth !== 0) throw new ImapParseError('literal8 is only allowed for the APPEND message');
    this.literal8At = this.argIndex;
    return { type: 'string', value: literal, literal: true };
  }

  private readList(depth: number): Token {
    if (depth > this.maxDepth) throw new ImapParseError('Too many nested parentheses');
    this.cursor.next(); // (
    const items: Token[] = [];
    for (;;) {
      const byte = this.cursor.peek();
      if (byte === undefined) throw new ImapParseError('Unbalanced parentheses');
      if (byte === 0x29 /* ) */) {
        this.cursor.next();
        return { type: 'list', items };
      }
      if (items.length > 0) this.expectSpace();
      if (this.cursor.peek() === 0x29) continue;
      items.push(this.readToken(depth));
    }
  }

  private readQuoted(): Buffer {
    this.cursor.next(); // opening quote
    const bytes: number[] = [];
    for (;;) {
      const byte = this.cursor.next();
      if (byte === undefined) throw new ImapParseError('Unterminated quoted string');
      if (byte === 0x22) return Buffer.from(bytes);
      if (byte === 0x5c /* \ */) {
        const escaped = this.cursor.next();
        if (escaped !== 0x22 && escaped !== 0x5c) throw new ImapParseError('Invalid escape in quoted string');
        bytes.push(escaped);
        continue;
      }
      bytes.push(byte);
    }
  }

  private readAtom(depth: number): Token {
    let value = '';
    let section: Section | undefined;
    let partial: { start: number; length?: number } | undefined;
    for (;;) {
      const byte = this.cursor.peek();
      if (byte === undefined || byte === SP || byte === 0x29 || byte === 0x28 || byte === 0x22) break;
      if (byte < 0x20 || byte === 0x7f) throw new ImapParseError('Control character in command');
      if (byte === 0x5b /* [ */ && section === undefined && /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)$/i.test(value)) {
        section = this.readSection(depth);
        if (this.cursor.peek() === 0x3c /* < */) partial = this.readPartial();
        continue;
      }
      value += String.fromCharCode(this.cursor.next() as number);
    }
    if (value === '') throw new ImapParseError('Expected an atom');
    const token: Token = { type: 'atom', value };
    if (section) token.section = section;
    if (partial) token.partial = partial;
    return token;
  }

  private readSection(depth: number): Section {
    this.cursor.next(); // [
    let spec = '';
    let fields: string[] | undefined;
    for (;;) {
      const byte = this.cursor.peek();
      if (byte === undefined) throw new ImapParseError('Unterminated section');
      if (byte === 0x5d /* ] */) {
        this.cursor.next();
        break;
      }
      if (byte === 0x28) {
        const list = this.readList(depth + 1);
        if (list.type !== 'list') throw new ImapParseError('Invalid header field list');
        fields = list.items.map((item) => tokenText(item).toUpperCase());
        continue;
      }
      this.cursor.next();
      spec += String.fromCharCode(byte);
    }
    const section: Section = { spec: spec.trim().toUpperCase() };
    if (fields) section.fields = fields;
    return section;
  }

  private readPartial(): { start: number; length?: number } {
    this.cursor.next(); // <
    let text = '';
    for (let byte = this.cursor.next(); byte !== 0x3e /* > */; byte = this.cursor.next()) {
      if (byte === undefined) throw new ImapParseError('Unterminated partial');
      text += String.fromCharCode(byte);
    }
    const match = /^(\d{1,10})(?:\.(\d{1,10}))?$/.exec(text);
    if (!match) throw new ImapParseError('Invalid partial');
    const result: { start: number; length?: number } = { start: Number(match[1]) };
    if (match[2] !== undefined) result.length = Number(match[2]);
    return result;
  }
}

/** The text of an atom or string token (strings decoded as UTF-8). */
export function tokenText(token: Token | undefined): string {
  if (!token) throw new ImapParseError('Missing argument');
  if (token.type === 'atom') return token.value;
  if (token.type === 'string') return token.value.toString('utf8');
  throw new ImapParseError('Expected a string, got a list');
}

/** astring/nstring helper: NIL atoms become null. */
export function tokenNString(token: Token | undefined): string | null {
  if (token?.type === 'atom' && token.value.toUpperCase() === 'NIL') return null;
  return tokenText(token);
}

export function tokenList(token: Token | undefined): Token[] {
  if (!token || token.type !== 'list') throw new ImapParseError('Expected a parenthesised list');
  return token.items;
}

export function parseCommand(parts: CommandPart[], maxDepth: number): ParsedCommand {
  return new Tokenizer(parts, maxDepth).parseCommand();
}
