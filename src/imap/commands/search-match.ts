/** Evaluates a SEARCH tree against one message; message bytes are loaded only when a key needs them. */
import type { MessageMeta, MimePartJson } from '../backend.js';
import { visibleFlags, type MessageState } from '../mailbox-view.js';
import { parseAddressList } from '../mime/envelope.js';
import { splitHeaderFields, type HeaderField } from '../mime/header-block.js';
import { decodeEncodedWords, decodeText } from '../mime/transfer-decoding.js';
import { sequenceSetContains } from '../parser/sequence-set.js';
import type { DateComparison, SearchNode } from '../parser/search-parser.js';

export interface SearchSubject {
  message: MessageState;
  seq: number;
  maxSeq: number;
  maxUid: number;
  /** Loads bytes and metadata on first use. */
  content(): Promise<{ raw: Buffer; meta: MessageMeta }>;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function dayNumber(date: Date): number {
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()) / 86_400_000;
}

/** The calendar day written in a Date header, in the sender's own time zone. */
function sentDay(value: string | undefined): number | null {
  if (!value) return null;
  const match = /(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2,4})/.exec(value);
  if (match) {
    const month = MONTHS.indexOf((match[2] as string).toLowerCase());
    let year = Number(match[3]);
    if (year < 100) year += year < 50 ? 2000 : 1900;
    if (month >= 0) return Date.UTC(year, month, Number(match[1])) / 86_400_000;
  }
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : dayNumber(new Date(parsed));
}

function compareDay(day: number, cmp: DateComparison, target: Date): boolean {
  const wanted = dayNumber(target);
  return cmp === 'before' ? day < wanted : cmp === 'on' ? day === wanted : day >= wanted;
}

function contains(haystack: string, needle: string): boolean {
  return haystack.toLowerCase().includes(needle.toLowerCase());
}

const ADDRESS_FIELDS = new Set(['from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'resent-from', 'resent-sender', 'resent-to', 'resent-cc', 'resent-bcc']);

/**
 * What a header key is matched against. For address fields this is, as in Dovecot, also each
 * parsed address written `name <mailbox@host>`, so `FROM user@host` finds `<user (c)@ host>` and
 * `user@host (Name)`; the decoded value itself is kept so group names and comments still match.
 */
function headerHaystack(field: HeaderField): string {
  const value = decodeEncodedWords(field.value);
  if (!ADDRESS_FIELDS.has(field.name)) return value;
  // Parsed before decoding: a decoded display name may hold commas or angle brackets.
  const forms = (parseAddressList(field.value) ?? []).map((a) => {
    const address = a.mailbox && a.host ? `${a.mailbox}@${a.host}` : (a.mailbox ?? '');
    return a.name ? `${decodeEncodedWords(a.name)} <${address}>` : address;
  });
  return [value, ...forms].join('\n');
}

function textParts(part: MimePartJson, out: MimePartJson[] = []): MimePartJson[] {
  if (part.parts) part.parts.forEach((child) => textParts(child, out));
  else if (part.message) textParts(part.message.root, out);
  else if (part.type === 'text') out.push(part);
  return out;
}

function bodyText(raw: Buffer, meta: MessageMeta): string {
  return textParts(meta.structure)
    .map((part) => decodeText(raw.subarray(part.bodyStart, part.bodyEnd), part.encoding, part.params.charset))
    .join('\n');
}

export async function matches(node: SearchNode, subject: SearchSubject, cache: { fields?: HeaderField[] } = {}): Promise<boolean> {
  const { message } = subject;
  const headerFields = async (): Promise<HeaderField[]> => {
    if (!cache.fields) {
      const { raw, meta } = await subject.content();
      cache.fields = splitHeaderFields(raw.subarray(meta.structure.headerStart, meta.structure.bodyStart));
    }
    return cache.fields;
  };
  switch (node.op) {
    case 'and':
      for (const child of node.nodes) if (!(await matches(child, subject, cache))) return false;
      return true;
    case 'or':
      return (await matches(node.left, subject, cache)) || (await matches(node.right, subject, cache));
    case 'not':
      return !(await matches(node.node, subject, cache));
    case 'all':
      return true;
    case 'none':
      return false;
    case 'flag':
      return visibleFlags(message).some((flag) => flag.toLowerCase() === node.flag.toLowerCase()) === node.present;
    case 'modseq':
      return (message.modseq ?? 0) >= node.value;
    case 'size':
      return node.larger ? message.size > node.value : message.size < node.value;
    case 'uid':
      return sequenceSetContains(node.set, message.uid, subject.maxUid);
    case 'seq':
      return sequenceSetContains(node.set, subject.seq, subject.maxSeq);
    case 'internaldate':
      return compareDay(dayNumber(message.internalDate), node.cmp, node.date);
    case 'sentdate': {
      const day = sentDay((await headerFields()).find((field) => field.name === 'date')?.value);
      return day !== null && compareDay(day, node.cmp, node.date);
    }
    case 'header': {
      const fields = (await headerFields()).filter((field) => field.name === node.field);
      if (node.value === '') return fields.length > 0;
      return fields.some((field) => contains(headerHaystack(field), node.value));
    }
    case 'body': {
      const { raw, meta } = await subject.content();
      return contains(bodyText(raw, meta), node.value);
    }
    case 'text': {
      const { raw, meta } = await subject.content();
      const header = (await headerFields()).map((field) => decodeEncodedWords(field.value)).join('\n');
      return contains(header, node.value) || contains(bodyText(raw, meta), node.value);
    }
  }
}
