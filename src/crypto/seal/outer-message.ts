/**
 * The outer (clear) layer of medgate/1: transport header fields, the routing header carrier, and the
 * RFC 3156 multipart/encrypted body. Everything written here is visible to every relay, so it is
 * built from addresses, a date and constants only.
 */
import { randomBytes } from 'node:crypto';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import { radix64Lines } from './radix64.js';

export const ROUTING_FIELD = 'X-Medgate-Routing';
export const FORMAT_FIELD = 'X-Medgate-Format';
/** RFC 9788 §4.2.3 recommends "[...]" as the obscured Subject; clients implementing it show the inner one. */
export const DEFAULT_OUTER_SUBJECT = '[...]';
export type BodyMode = 'sealed' | 'client-encrypted' | 'smime';

const CRLF = '\r\n';
const PREAMBLE = 'This is an OpenPGP/MIME encrypted message (RFC 3156, RFC 9788).';

export interface TransportFields {
  from: string;
  to: string[];
  cc: string[];
  date: string;
  messageId: string;
  subject: string;
}

/** The header fields every relay and client needs, in the order written. Values are ASCII-safe. */
export function transportFieldList(t: TransportFields): Array<[string, string]> {
  const fields: Array<[string, string]> = [['From', t.from]];
  fields.push(['To', t.to.length > 0 ? t.to.join(', ') : 'undisclosed-recipients:;']);
  if (t.cc.length > 0) fields.push(['Cc', t.cc.join(', ')]);
  fields.push(['Date', t.date], ['Message-ID', t.messageId], ['Subject', encodeSubject(t.subject)]);
  return fields;
}

function encodeSubject(subject: string): string {
  const oneLine = subject.replace(/[\r\n]+/g, ' ');
  return mimeFuncs.isPlainText(oneLine) ? oneLine : mimeFuncs.encodeWords(oneLine, 'Q', 52);
}

/** Folds a long header value at commas/spaces (RFC 5322 §2.2.3: lines ≤ 78 chars where possible). */
function fieldLine(name: string, value: string): string {
  return mimeFuncs.foldLines(`${name}: ${value}`, 76).replace(/\r?\n/g, CRLF);
}

/** Radix-64 of the routing OpenPGP message (base64 + CRC-24 line), one continuation line per 76 characters. */
export function routingFieldLine(routing: Uint8Array): string {
  return `${ROUTING_FIELD}:${CRLF} ${radix64Lines(routing).join(`${CRLF} `)}`;
}

export function newMessageId(fromAddress: string): string {
  const at = fromAddress.lastIndexOf('@');
  const domain = at === -1 ? 'medgate.invalid' : fromAddress.slice(at + 1).replace(/[^A-Za-z0-9.-]/g, '') || 'medgate.invalid';
  return `<${randomBytes(16).toString('hex')}@${domain}>`;
}

/** `routing` null: an own copy, which carries no routing header (docs/secure-message-format.md §5.1). */
export function headerBlock(transport: Array<[string, string]>, mode: BodyMode, routing: Uint8Array | null, contentFields: string[]): string {
  const lines = transport.map(([n, v]) => fieldLine(n, v));
  lines.push('MIME-Version: 1.0', `${FORMAT_FIELD}: medgate/1; body=${mode}`, ...(routing ? [routingFieldLine(routing)] : []), ...contentFields);
  return lines.join(CRLF) + CRLF;
}

/** Header block + RFC 3156 body for the armored OpenPGP message (CRLF line ends, no final newline). */
export function pgpMimeMessage(headerWithoutContentType: string, armored: string | Buffer): Buffer {
  const { head, tail } = pgpMimeParts(headerWithoutContentType);
  const armoredBytes = typeof armored === 'string' ? Buffer.from(armored, 'latin1') : armored;
  return Buffer.concat([Buffer.from(head, 'utf8'), armoredBytes, Buffer.from(tail, 'latin1')]);
}

/** What goes before and after the armored OpenPGP message (the streamed seal writes it in between). */
export function pgpMimeParts(headerWithoutContentType: string): { head: string; tail: string } {
  const boundary = `medgate-${randomBytes(12).toString('hex')}`;
  const head =
    headerWithoutContentType +
    `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";${CRLF} boundary="${boundary}"${CRLF}` +
    CRLF +
    PREAMBLE + CRLF +
    `--${boundary}${CRLF}` +
    `Content-Type: application/pgp-encrypted${CRLF}` +
    `Content-Description: PGP/MIME version identification${CRLF}` +
    CRLF +
    `Version: 1${CRLF}` +
    CRLF +
    `--${boundary}${CRLF}` +
    `Content-Type: application/octet-stream; name="encrypted.asc"${CRLF}` +
    `Content-Description: OpenPGP encrypted message${CRLF}` +
    `Content-Disposition: inline; filename="encrypted.asc"${CRLF}` +
    CRLF;
  return { head, tail: `${CRLF}--${boundary}--${CRLF}` };
}
