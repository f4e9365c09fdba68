/** Parses FETCH data items (RFC 3501 §6.4.5, BINARY from RFC 3516) into a list of requests. */
import { ImapParseError } from '../errors.js';
import { parseSection, type ParsedSection } from '../mime/section.js';
import type { Section, Token } from '../parser/tokenizer.js';

export type Partial = { start: number; length?: number };

export type FetchItem =
  | { kind: 'FLAGS' | 'UID' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ' }
  | { kind: 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | { kind: 'section'; peek: boolean; section: ParsedSection; label: string; partial?: Partial }
  | { kind: 'binary'; peek: boolean; path: number[]; label: string; partial?: Partial }
  | { kind: 'binary.size'; path: number[]; label: string };

const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

const SIMPLE = new Set(['FLAGS', 'UID', 'MODSEQ', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);

function sectionLabel(name: string, section: Section, partial?: Partial): string {
  const fields = section.fields ? ` (${section.fields.join(' ')})` : '';
  return `${name}[${section.spec}${fields}]${partial ? `<${partial.start}>` : ''}`;
}

function binaryPath(section: Section): number[] {
  if (section.fields || !/^(\d+(\.\d+)*)?$/.test(section.spec)) throw new ImapParseError('BINARY takes part numbers only');
  const path = section.spec ? section.spec.split('.').map(Number) : [];
  if (path.some((n) => n === 0)) throw new ImapParseError('Invalid part number');
  return path;
}

function parseItem(token: Token): FetchItem[] {
  if (token.type !== 'atom') throw new ImapParseError('Invalid fetch item');
  const name = token.value.toUpperCase();
  if (token.section) {
    const partial = token.partial;
    if (partial?.length === 0) throw new ImapParseError('Partial length must be positive');
    if (name === 'BODY' || name === 'BODY.PEEK') {
      const item: FetchItem = { kind: 'section', peek: name === 'BODY.PEEK', section: parseSection(token.section), label: sectionLabel('BODY', token.section, partial) };
      if (partial) item.partial = partial;
      return [item];
    }
    if (name === 'BINARY' || name === 'BINARY.PEEK') {
      const item: FetchItem = { kind: 'binary', peek: name === 'BINARY.PEEK', path: binaryPath(token.section), label: sectionLabel('BINARY', token.section, partial) };
      if (partial) item.partial = partial;
      return [item];
    }
    if (name === 'BINARY.SIZE' && !partial) return [{ kind: 'binary.size', path: binaryPath(token.section), label: sectionLabel('BINARY.SIZE', token.section) }];
    throw new ImapParseError('Invalid fetch item');
  }
  if (token.partial) throw new ImapParseError('Invalid fetch item');
  if (SIMPLE.has(name)) return [{ kind: name } as FetchItem];
  throw new ImapParseError(`Unknown fetch item`);
}

export function parseFetchItems(token: Token | undefined): FetchItem[] {
  if (!token) throw new ImapParseError('Missing fetch items');
  if (token.type === 'atom' && !token.section && MACROS[token.value.toUpperCase()]) {
    return (MACROS[token.value.toUpperCase()] as string[]).map((kind) => ({ kind }) as FetchItem);
  }
  const tokens = token.type === 'list' ? token.items : [token];
  if (tokens.length === 0) throw new ImapParseError('Empty fetch item list');
  return tokens.flatMap(parseItem);
}

/** True when the item implicitly sets \Seen (RFC 3501: BODY[...], RFC822, RFC822.TEXT, BINARY[...]). */
export function setsSeen(item: FetchItem): boolean {
  if (item.kind === 'section' || item.kind === 'binary') return !item.peek;
  return item.kind === 'RFC822' || item.kind === 'RFC822.TEXT';
}

export function needsRaw(item: FetchItem): boolean {
  return ['section', 'binary', 'binary.size', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT'].includes(item.kind);
}

export function needsMeta(item: FetchItem): boolean {
  if (item.kind === 'section') return item.section.path.length > 0 || item.section.kind !== '';
  return ['ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'binary', 'binary.size', 'RFC822.HEADER', 'RFC822.TEXT'].includes(item.kind);
}
