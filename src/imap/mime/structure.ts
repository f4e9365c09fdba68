/**
 * Derives the cacheable MessageMeta (size, envelope, MIME tree with byte offsets) from the opened
 * bytes of a message. MIME splitting is done by @zone-eu/mailsplit (the streaming splitter used by
 * WildDuck); this file only keeps track of where each node's header and body lie in the original
 * bytes. Embedded message/rfc822 parts are parsed by running the splitter again on their body.
 */
import mailsplit from '@zone-eu/mailsplit';
import type { MimeNode, SplitterChunk } from '@zone-eu/mailsplit';
import { Splitter } from '../../mime/splitter.js';
import type { Transform } from 'node:stream';
import type { EnvelopeJson, MessageMeta, MimePartJson } from '../backend.js';
import { buildEnvelope } from './envelope.js';
import { firstFieldValue, splitHeaderFields } from './header-block.js';

/**
 * Bumped whenever the derived JSON changes, so cached metadata is recomputed. 2: digest parts
 * default to message/rfc822, addr-spec comments and source routes in ENVELOPE, group members.
 */
export const MESSAGE_META_VERSION = 2;
const MAX_EMBEDDED_DEPTH = 8;
const WRITE_CHUNK = 256 * 1024;

interface StructuredValue {
  value: string;
  params: Record<string, string>;
}

interface NodeRecord {
  node: MimeNode;
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  children: NodeRecord[];
}

/** mailsplit keeps the parsed Content-Type / Content-Disposition on private fields. */
function structured(node: MimeNode, field: '_parsedContentType' | '_parsedContentDisposition'): StructuredValue | null {
  const value = (node as unknown as Record<string, unknown>)[field];
  if (!value || typeof value !== 'object') return null;
  const { value: main, params } = value as { value?: unknown; params?: unknown };
  const cleanParams: Record<string, string> = {};
  if (params && typeof params === 'object') {
    for (const [key, param] of Object.entries(params as Record<string, unknown>)) {
      if (typeof param === 'string') cleanParams[key.toLowerCase()] = param;
    }
  }
  return { value: typeof main === 'string' ? main : '', params: cleanParams };
}

/** Runs the splitter over `raw` and returns the root node with offsets relative to `raw`. */
async function splitNodes(raw: Buffer): Promise<NodeRecord> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  const records = new Map<MimeNode, NodeRecord>();
  let root: NodeRecord | null = null;
  let position = 0;

  const extendAncestors = (node: MimeNode | false, end: number): void => {
    for (let current = node; current; current = current.parentNode as MimeNode | false) {
      const record = records.get(current);
      if (record && record.bodyEnd < end) record.bodyEnd = end;
    }
  };

  splitter.on('data', (chunk: SplitterChunk) => {
    if (chunk.type === 'node') {
      const node = chunk;
      const headerStart = position;
      position += node._headerlen;
      const record: NodeRecord = { node, headerStart, bodyStart: position, bodyEnd: position, children: [] };
      records.set(node, record);
      const parent = node.parentNode ? records.get(node.parentNode as MimeNode) : undefined;
      if (parent) parent.children.push(record);
      else root ??= record;
      extendAncestors(node.parentNode as MimeNode | false, position);
      return;
    }
    const length = chunk.value?.length ?? 0;
    position += length;
    const owner = chunk.node;
    if (!owner) return;
    if (records.has(owner)) extendAncestors(owner, position);
    else extendAncestors(owner.parentNode as MimeNode | false, position);
  });

  const stream = splitter as unknown as Transform;
  // Handled at once, not only at the `await` below: the splitter can fail (a header block over its
  // limit, too many parts) while writes are still pending, and a rejection or an 'error' event
  // nobody handles ends the process — on the main thread, the whole gateway (an APPEND of such a
  // message did). The listener stays for any later error of the destroyed stream.
  let failed = false;
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.on('error', (err) => {
      failed = true;
      reject(err);
    });
  });
  done.catch(() => undefined);
  for (let offset = 0; offset < raw.length && !failed; offset += WRITE_CHUNK) {
    const ok = stream.write(raw.subarray(offset, offset + WRITE_CHUNK));
    if (!ok) await new Promise((resolve) => {
      stream.once('drain', resolve);
      stream.once('error', resolve);
    });
  }
  if (!failed) stream.end();
  await done;
  if (!root) {
    // An empty message: one empty text/plain part.
    const empty = new mailsplit.MimeNode(false);
    empty.parseHeaders();
    return { node: empty, headerStart: 0, bodyStart: 0, bodyEnd: raw.length, children: [] };
  }
  return root;
}

function countLines(body: Buffer): number {
  if (body.length === 0) return 0;
  let lines = 0;
  for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) lines++;
  return body[body.length - 1] === 0x0a ? lines : lines + 1;
}

async function toPart(record: NodeRecord, raw: Buffer, shift: number, depth: number, inDigest = false): Promise<MimePartJson> {
  const headerBytes = raw.subarray(record.headerStart, record.bodyStart);
  const fields = splitHeaderFields(headerBytes);
  const contentType = structured(record.node, '_parsedContentType');
  const disposition = structured(record.node, '_parsedContentDisposition');
  const hasContentType = fields.some((field) => field.name === 'content-type');
  // RFC 2046 §5.1.5: without a Content-Type, a part of a multipart/digest is a message/rfc822.
  const defaultType = inDigest ? 'message/rfc822' : 'text/plain';
  const [type = 'text', subtype = 'plain'] = (hasContentType && contentType?.value ? contentType.value : defaultType)
    .toLowerCase()
    .split('/');
  const params = hasContentType ? (contentType?.params ?? {}) : inDigest ? {} : { charset: 'us-ascii' };
  const body = raw.subarray(record.bodyStart, record.bodyEnd);
  const encodingValue = firstFieldValue(fields, 'content-transfer-encoding');
  const language = firstFieldValue(fields, 'content-language');

  const part: MimePartJson = {
    type,
    subtype,
    params,
    id: firstFieldValue(fields, 'content-id'),
    description: firstFieldValue(fields, 'content-description'),
    encoding: encodingValue ? encodingValue.replace(/\(.*\)/g, '').trim().toLowerCase() : '7bit',
    md5: firstFieldValue(fields, 'content-md5'),
    disposition:
      disposition?.value && firstFieldValue(fields, 'content-disposition')
        ? { type: disposition.value.toLowerCase(), params: disposition.params }
        : null,
    language: language ? language.split(/\s*,\s*/).filter(Boolean) : null,
    location: firstFieldValue(fields, 'content-location'),
    headerStart: record.headerStart + shift,
    bodyStart: record.bodyStart + shift,
    bodyEnd: record.bodyEnd + shift,
    lines: type === 'text' || (type === 'message' && subtype === 'rfc822') ? countLines(body) : 0,
  };
  if (type === 'multipart') {
    part.parts = [];
    for (const child of record.children) part.parts.push(await toPart(child, raw, shift, depth, subtype === 'digest'));
  } else if (type === 'message' && subtype === 'rfc822' && depth < MAX_EMBEDDED_DEPTH) {
    const inner = await analyse(body, record.bodyStart + shift, depth + 1);
    part.message = { envelope: inner.envelope, root: inner.root };
  }
  return part;
}

async function analyse(raw: Buffer, shift: number, depth: number): Promise<{ envelope: EnvelopeJson; root: MimePartJson }> {
  const rootRecord = await splitNodes(raw);
  const root = await toPart(rootRecord, raw, shift, depth);
  const envelope = buildEnvelope(splitHeaderFields(raw.subarray(rootRecord.headerStart, rootRecord.bodyStart)));
  return { envelope, root };
}

/**
 * When the splitter gives up (over 1000 parts, a 1 MB header...), the message is still served:
 * as one opaque part, so FETCH BODY[] and ENVELOPE keep working.
 */
function opaqueStructure(raw: Buffer): { envelope: EnvelopeJson; root: MimePartJson } {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  const bodyStart = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf + 4 : lf !== -1 ? lf + 2 : raw.length;
  const header = raw.subarray(0, bodyStart);
  const root: MimePartJson = {
    type: 'application',
    subtype: 'octet-stream',
    params: {},
    id: null,
    description: null,
    encoding: '7bit',
    md5: null,
    disposition: null,
    language: null,
    location: null,
    headerStart: 0,
    bodyStart,
    bodyEnd: raw.length,
    lines: 0,
  };
  return { envelope: buildEnvelope(splitHeaderFields(header)), root };
}

/** Computes ENVELOPE, BODYSTRUCTURE data and size of an opened message. */
export async function analyseMessage(raw: Buffer): Promise<MessageMeta> {
  let analysed: { envelope: EnvelopeJson; root: MimePartJson };
  try {
    analysed = await analyse(raw, 0, 0);
  } catch {
    analysed = opaqueStructure(raw);
  }
  return { version: MESSAGE_META_VERSION, size: raw.length, envelope: analysed.envelope, structure: analysed.root };
}
