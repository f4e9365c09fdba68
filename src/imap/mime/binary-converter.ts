/**
 * Rewrites the parts of an appended message that hold NUL bytes as base64, as Dovecot's binary
 * converter does for APPEND with literal8 (RFC 3516 APPEND). An IMAP literal cannot carry NUL
 * (RFC 3501 §9: literal = "{" number "}" CRLF *CHAR8, CHAR8 = %x01-ff), so such a part could
 * not otherwise be returned by BODY[...] or RFC822; BINARY[...] still yields the original octets.
 * Offsets come from analyseMessage; no MIME parsing happens here.
 */
import type { MimePartJson } from '../backend.js';
import { splitHeaderFields } from './header-block.js';
import { analyseMessage } from './structure.js';

function leaves(part: MimePartJson, out: MimePartJson[] = []): MimePartJson[] {
  if (part.parts) part.parts.forEach((child) => leaves(child, out));
  else if (part.message) leaves(part.message.root, out);
  else out.push(part);
  return out;
}

function base64Lines(bytes: Buffer, eol: string): string {
  const text = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += 76) lines.push(text.slice(i, i + 76));
  return lines.join(eol);
}

/** The header of a part with its Content-Transfer-Encoding replaced by base64. */
function base64Header(header: Buffer, eol: string): Buffer | null {
  const fields = splitHeaderFields(header);
  // An unsplittable message keeps its multipart header on an opaque part: leave it alone.
  if (fields.some((field) => field.name === 'content-type' && /^\s*multipart\//i.test(field.value))) return null;
  const kept = fields
    .filter((field) => field.name !== 'content-transfer-encoding')
    .map((field) => (field.raw[field.raw.length - 1] === 0x0a ? field.raw : Buffer.concat([field.raw, Buffer.from(eol)])));
  return Buffer.concat([...kept, Buffer.from(`Content-Transfer-Encoding: base64${eol}${eol}`)]);
}

/** Returns `raw` itself when no part holds a NUL byte (the common case costs one scan). */
export async function encodeBinaryParts(raw: Buffer): Promise<Buffer> {
  if (!raw.includes(0)) return raw;
  const meta = await analyseMessage(raw);
  const eol = raw.includes('\r\n') ? '\r\n' : '\n';
  const binary = leaves(meta.structure)
    .filter((part) => raw.subarray(part.bodyStart, part.bodyEnd).includes(0))
    .sort((a, b) => b.headerStart - a.headerStart);
  let result = raw;
  // From the last part backwards, so the offsets of the parts still to do stay valid.
  for (const part of binary) {
    const header = base64Header(result.subarray(part.headerStart, part.bodyStart), eol);
    if (!header) continue;
    const body = Buffer.from(base64Lines(result.subarray(part.bodyStart, part.bodyEnd), eol) + (part.bodyEnd === result.length ? eol : ''), 'latin1');
    result = Buffer.concat([result.subarray(0, part.headerStart), header, body, result.subarray(part.bodyEnd)]);
  }
  return result;
}
