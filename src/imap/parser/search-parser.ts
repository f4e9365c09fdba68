/** Parses SEARCH keys (RFC 3501 §6.4.4) into a tree; keys in sequence are ANDed. */
import { ImapParseError } from '../errors.js';
import { parseDate } from './dates.js';
import { normaliseFlag } from './flags.js';
import { isSequenceSet, parseSequenceSet, type SequenceSet } from './sequence-set.js';
import { tokenText, type Token } from './tokenizer.js';

export type DateComparison = 'before' | 'on' | 'since';

export type SearchNode =
  | { op: 'and'; nodes: SearchNode[] }
  | { op: 'or'; left: SearchNode; right: SearchNode }
  | { op: 'not'; node: SearchNode }
  | { op: 'all' }
  | { op: 'none' }
  | { op: 'flag'; flag: string; present: boolean }
  | { op: 'header'; field: string; value: string }
  | { op: 'body'; value: string }
  | { op: 'text'; value: string }
  | { op: 'internaldate'; cmp: DateComparison; date: Date }
  | { op: 'sentdate'; cmp: DateComparison; date: Date }
  | { op: 'size'; larger: boolean; value: number }
  | { op: 'uid'; set: SequenceSet }
  | { op: 'modseq'; value: number }
  | { op: 'seq'; set: SequenceSet };

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const HEADER_KEYS = new Set(['FROM', 'TO', 'CC', 'BCC', 'SUBJECT']);
const DATE_KEYS: Record<string, ['internaldate' | 'sentdate', DateComparison]> = {
  BEFORE: ['internaldate', 'before'],
  ON: ['internaldate', 'on'],
  SINCE: ['internaldate', 'since'],
  SENTBEFORE: ['sentdate', 'before'],
  SENTON: ['sentdate', 'on'],
  SENTSINCE: ['sentdate', 'since'],
};

const MAX_KEYS = 500;

class SearchParser {
  private index = 0;
  private count = 0;

  constructor(private readonly tokens: Token[]) {}

  parseAll(): SearchNode {
    const nodes: SearchNode[] = [];
    while (this.index < this.tokens.length) nodes.push(this.parseKey());
    if (nodes.length === 0) throw new ImapParseError('SEARCH needs at least one key');
    return nodes.length === 1 ? (nodes[0] as SearchNode) : { op: 'and', nodes };
  }

  private take(): Token {
    const token = this.tokens[this.index++];
    if (!token) throw new ImapParseError('Missing search argument');
    return token;
  }

  private text(): string {
    return tokenText(this.take());
  }

  private number(): number {
    const text = this.text();
    if (!/^\d{1,15}$/.test(text)) throw new ImapParseError('Expected a number');
    return Number(text);
  }

  private parseKey(): SearchNode {
    if (++this.count > MAX_KEYS) throw new ImapParseError('Too many search keys');
    const token = this.take();
    if (token.type === 'list') {
      if (token.items.length === 0) throw new ImapParseError('Empty search group');
      return new SearchParser(token.items).parseAll();
    }
    const key = tokenText(token).toUpperCase();
    if (token.type === 'atom' && isSequenceSet(key)) return { op: 'seq', set: parseSequenceSet(key) };
    const flag = FLAG_KEYS[key];
    if (flag) return { op: 'flag', flag: flag[0], present: flag[1] };
    if (HEADER_KEYS.has(key)) return { op: 'header', field: key.toLowerCase(), value: this.text() };
    const date = DATE_KEYS[key];
    if (date) return { op: date[0], cmp: date[1], date: parseDate(this.text()) };
    switch (key) {
      case 'ALL':
        return { op: 'all' };
      case 'OLD':
        return { op: 'flag', flag: '\\Recent', present: false };
      case 'RECENT':
        return { op: 'flag', flag: '\\Recent', present: true };
      case 'NEW': // RFC 3501 §6.4.4: RECENT UNSEEN
        return { op: 'and', nodes: [{ op: 'flag', flag: '\\Recent', present: true }, { op: 'flag', flag: '\\Seen', present: false }] };
      case 'HEADER': {
        const field = this.text().toLowerCase();
        return { op: 'header', field, value: this.text() };
      }
      case 'BODY':
        return { op: 'body', value: this.text() };
      case 'TEXT':
        return { op: 'text', value: this.text() };
      case 'KEYWORD':
        return { op: 'flag', flag: normaliseFlag(this.text()), present: true };
      case 'UNKEYWORD':
        return { op: 'flag', flag: normaliseFlag(this.text()), present: false };
      case 'LARGER':
        return { op: 'size', larger: true, value: this.number() };
      case 'SMALLER':
        return { op: 'size', larger: false, value: this.number() };
      case 'UID':
        return { op: 'uid', set: parseSequenceSet(this.text()) };
      case 'MODSEQ': {
        // MODSEQ [entry-name entry-type] value (RFC 7162 §3.1.5); per-flag entries are not distinguished.
        if (this.tokens[this.index]?.type === 'string') this.index += 2;
        return { op: 'modseq', value: this.number() };
      }
      case 'NOT':
        return { op: 'not', node: this.parseKey() };
      case 'OR': {
        const left = this.parseKey();
        return { op: 'or', left, right: this.parseKey() };
      }
      default:
        throw new ImapParseError('Unknown search key');
    }
  }
}

export interface SearchRequest {
  charset: string | null;
  query: SearchNode;
}

export function parseSearch(args: Token[]): SearchRequest {
  let charset: string | null = null;
  let rest = args;
  if (rest[0]?.type === 'atom' && rest[0].value.toUpperCase() === 'RETURN') throw new ImapParseError('ESEARCH is not supported');
  if (rest[0]?.type === 'atom' && rest[0].value.toUpperCase() === 'CHARSET') {
    charset = tokenText(rest[1]).toUpperCase();
    rest = rest.slice(2);
  }
  return { charset, query: new SearchParser(rest).parseAll() };
}

/** Whether the query uses MODSEQ (the response then carries the highest mod-sequence found). */
export function usesModseq(node: SearchNode): boolean {
  switch (node.op) {
    case 'and':
      return node.nodes.some(usesModseq);
    case 'or':
      return usesModseq(node.left) || usesModseq(node.right);
    case 'not':
      return usesModseq(node.node);
    default:
      return node.op === 'modseq';
  }
}

/** Whether evaluating the query needs the message bytes. */
export function needsContent(node: SearchNode): boolean {
  switch (node.op) {
    case 'and':
      return node.nodes.some(needsContent);
    case 'or':
      return needsContent(node.left) || needsContent(node.right);
    case 'not':
      return needsContent(node.node);
    case 'header':
    case 'body':
    case 'text':
    case 'sentdate':
      return true;
    default:
      return false;
  }
}
