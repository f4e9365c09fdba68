/**
 * ENVELOPE per RFC 3501 §7.4.2: header values are kept raw (encoded words left as-is), Sender and
 * Reply-To default to From, groups are written as start/end markers.
 */
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { EnvelopeAddress, EnvelopeJson } from '../backend.js';
import { firstFieldValue, type HeaderField } from './header-block.js';
import { MAX_ADDRESS_FIELD } from '../../crypto/seal/header-values.js';

/** RFC 5322 allows comments and folding white space inside an unquoted addr-spec. */
function stripComments(address: string): string {
  if (address.includes('"')) return address;
  let text = address;
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text.replace(/\([^()]*\)/g, '');
  }
  return text.replace(/\s+/g, '');
}

function toEnvelopeAddress(name: string, rawAddress: string): EnvelopeAddress {
  let address = stripComments(rawAddress);
  // An obsolete source route `@a,@b:user@host` goes to the adl field (RFC 3501 §7.4.2).
  let adl: string | null = null;
  const route = /^(@[^:]*):(.*)$/.exec(address);
  if (route) {
    adl = route[1] as string;
    address = route[2] as string;
  }
  const at = address.lastIndexOf('@');
  return {
    name: name || null,
    adl,
    mailbox: at === -1 ? address || null : address.slice(0, at),
    host: at === -1 ? null : address.slice(at + 1),
  };
}

export function parseAddressList(value: string | null): EnvelopeAddress[] | null {
  // Past the length address lists are read to (src/crypto/seal/header-values.ts), NIL: parsing it would hold the server.
  if (!value || value.length > MAX_ADDRESS_FIELD) return null;
  const result: EnvelopeAddress[] = [];
  for (const entry of addressparser(value)) {
    if ('group' in entry && Array.isArray(entry.group)) {
      result.push({ name: null, adl: null, mailbox: entry.name || null, host: null });
      for (const member of entry.group) {
        // A member without an address (a stray comment or `"x" <>`) is not a group member.
        if ('address' in member && member.address) result.push(toEnvelopeAddress(member.name, member.address));
      }
      result.push({ name: null, adl: null, mailbox: null, host: null });
    } else if ('address' in entry) {
      if (!entry.address && !entry.name) continue;
      result.push(toEnvelopeAddress(entry.name, entry.address));
    }
  }
  return result.length > 0 ? result : null;
}

export function buildEnvelope(fields: HeaderField[]): EnvelopeJson {
  const from = parseAddressList(firstFieldValue(fields, 'from'));
  return {
    date: firstFieldValue(fields, 'date'),
    subject: firstFieldValue(fields, 'subject'),
    from,
    sender: parseAddressList(firstFieldValue(fields, 'sender')) ?? from,
    replyTo: parseAddressList(firstFieldValue(fields, 'reply-to')) ?? from,
    to: parseAddressList(firstFieldValue(fields, 'to')),
    cc: parseAddressList(firstFieldValue(fields, 'cc')),
    bcc: parseAddressList(firstFieldValue(fields, 'bcc')),
    inReplyTo: firstFieldValue(fields, 'in-reply-to'),
    messageId: firstFieldValue(fields, 'message-id'),
  };
}
