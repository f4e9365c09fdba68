/**
 * Resolves a FETCH section (RFC 3501 §6.4.5: "", HEADER, HEADER.FIELDS (NOT), TEXT, MIME and part
 * numbers such as 1.2.3) to the exact bytes of the message, using offsets from MessageMeta.
 */
import type { MessageMeta, MimePartJson } from '../backend.js';
import { ImapParseError } from '../errors.js';
import type { Section } from '../parser/tokenizer.js';
import { splitHeaderFields } from './header-block.js';

const SECTION = /^((?:\d+\.)*\d+)?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?$/;

export interface ParsedSection {
  path: number[];
  kind: '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  fields: string[];
}

export function parseSection(section: Section): ParsedSection {
  const match = SECTION.exec(section.spec);
  if (!match) throw new ImapParseError('Invalid section');
  const path = match[1] ? match[1].split('.').map(Number) : [];
  if (path.some((n) => n === 0)) throw new ImapParseError('Invalid part number');
  const kind = (match[2] ?? '') as ParsedSection['kind'];
  if (kind === 'MIME' && path.length === 0) throw new ImapParseError('MIME needs a part number');
  const needsFields = kind === 'HEADER.FIELDS' || kind === 'HEADER.FIELDS.NOT';
  if (needsFields !== Boolean(section.fields)) throw new ImapParseError('Invalid header field list');
  return { path, kind, fields: section.fields ?? [] };
}

function isMessagePart(part: MimePartJson): boolean {
  return part.type === 'message' && part.subtype === 'rfc822' && Boolean(part.message);
}

/** Finds the part a path designates; null when it does not exist. */
export function resolvePart(root: MimePartJson, path: number[]): MimePartJson | null {
  let current = root;
  for (let i = 0; i < path.length; i++) {
    const n = path[i] as number;
    // The children of a message are those of its root part; a non-multipart root is part 1.
    let container: MimePartJson;
    if (i === 0) container = root;
    else if (isMessagePart(current)) container = current.message!.root;
    else if (current.type === 'multipart') container = current;
    else return null;
    if (container.type === 'multipart') {
      const child = container.parts?.[n - 1];
      if (!child) return null;
      current = child;
    } else if (n === 1) {
      current = container;
    } else {
      return null;
    }
  }
  return current;
}

function filterHeader(raw: Buffer, start: number, end: number, fields: string[], not: boolean): Buffer {
  const wanted = new Set(fields.map((field) => field.toLowerCase()));
  const kept = splitHeaderFields(raw.subarray(start, end))
    .filter((field) => wanted.has(field.name) !== not)
    .map((field) => (field.raw[field.raw.length - 1] === 0x0a ? field.raw : Buffer.concat([field.raw, Buffer.from('\r\n')])));
  return Buffer.concat([...kept, Buffer.from('\r\n')]);
}

/** Bytes of a section; an empty buffer when the part does not exist (RFC 3501 leaves it to the server). */
export function extractSection(raw: Buffer, meta: MessageMeta, section: ParsedSection): Buffer {
  if (section.path.length === 0 && section.kind === '') return raw;
  const part = section.path.length === 0 ? meta.structure : resolvePart(meta.structure, section.path);
  if (!part) return Buffer.alloc(0);
  if (section.kind === '') return raw.subarray(part.bodyStart, part.bodyEnd);
  if (section.kind === 'MIME') return raw.subarray(part.headerStart, part.bodyStart);
  // HEADER / TEXT of a part number apply to the message embedded in a message/rfc822 part.
  let target = part;
  if (section.path.length > 0) {
    if (!isMessagePart(part)) return Buffer.alloc(0);
    target = part.message!.root;
  }
  if (section.kind === 'TEXT') return raw.subarray(target.bodyStart, target.bodyEnd);
  if (section.kind === 'HEADER') return raw.subarray(target.headerStart, target.bodyStart);
  return filterHeader(raw, target.headerStart, target.bodyStart, section.fields, section.kind === 'HEADER.FIELDS.NOT');
}
