/**
 * One Sent copy (issue 31). A client that submits through medgate and then APPENDs its own copy to
 * Sent (Thunderbird, Outlook, Apple Mail) would leave two copies there: the gateway files the
 * sender's copy at submission. The client's APPEND is answered with the gateway's copy instead
 * (RFC 4315 allows APPENDUID to name an existing message) when the client's bytes are the ones the
 * gateway sealed, up to what the gateway itself changes: line endings (CRLF), the trailing line
 * break of SMTP DATA, medgate's own verdict fields renamed X-Untrusted-* in a sender's header, and
 * the transport-only notice it puts first when some recipients are MSSanté mailboxes.
 * Anything else differing (a Bcc field the client kept for itself, an edited body, another message
 * under the same Message-ID) keeps both: the client's bytes are stored as given, never dropped.
 * The rule is documented in docs/clients.md and docs/imap.md.
 */
import { toCrlf } from '../util/crlf.js';
import { neutraliseForgedFields } from './opened-message.js';
import { TRANSPORT_ONLY_HEADER } from '../smtp/mssante/sent-copy-notice.js';

/** How long after its submission the gateway's Sent copy stands for a client's APPEND of it. */
export const SENT_MATCH_WINDOW_MS = 15 * 60 * 1000;

/** The bytes compared: CRLF line endings, no trailing line breaks, medgate's fields neutralised as the gateway's copy has them. */
export function comparableSentBytes(raw: Buffer): Buffer {
  const crlf = toCrlf(neutraliseForgedFields(raw));
  let end = crlf.length;
  while (end >= 2 && crlf[end - 2] === 0x0d && crlf[end - 1] === 0x0a) end -= 2;
  return crlf.subarray(0, end);
}

/**
 * The gateway's Sent copy of a message with MSSanté recipients starts with the transport-only
 * notice it wrote itself (src/smtp/mssante/sent-copy-notice.ts), which the client's own copy does
 * not have: the bytes to compare begin after it. Only a first field is the gateway's (a sender's own
 * field further down is the client's and stays compared).
 */
export function withoutTransportOnlyNotice(raw: Buffer): Buffer {
  if (!NOTICE_START.test(raw.subarray(0, TRANSPORT_ONLY_HEADER.length + 1).toString('latin1'))) return raw;
  // The field ends at the first line break not followed by a folding space or tab.
  for (let at = raw.indexOf('\n'); at >= 0; at = raw.indexOf('\n', at + 1)) {
    const next = raw[at + 1];
    if (next !== 0x20 && next !== 0x09) return raw.subarray(at + 1);
  }
  return raw;
}

const NOTICE_START = new RegExp(`^${TRANSPORT_ONLY_HEADER}:`, 'i');

/** The Message-ID field of a message's header block (folded or not); undefined when absent. */
export function messageIdOf(raw: Buffer): string | undefined {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split < 0 ? Math.min(raw.length, 64 * 1024) : split).toString('latin1');
  const m = /^message-id[ \t]*:[ \t]*(?:\r?\n[ \t]+)?(\S[^\r\n]*)/im.exec(head);
  return m?.[1]?.trim();
}
