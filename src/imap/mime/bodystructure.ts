/**
 * Renders ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from cached MIME metadata.
 * BODY omits extension data; BODYSTRUCTURE includes md5, disposition, language and location.
 */
import type { EnvelopeAddress, EnvelopeJson, MimePartJson } from '../backend.js';
import { concat, type ImapValue } from '../response.js';

function addresses(list: EnvelopeAddress[] | null): ImapValue {
  if (!list || list.length === 0) return null;
  return [concat(list.map((a) => [a.name, a.adl, a.mailbox, a.host]))];
}

export function renderEnvelope(envelope: EnvelopeJson): ImapValue[] {
  return [
    envelope.date,
    envelope.subject,
    addresses(envelope.from),
    addresses(envelope.sender),
    addresses(envelope.replyTo),
    addresses(envelope.to),
    addresses(envelope.cc),
    addresses(envelope.bcc),
    envelope.inReplyTo,
    envelope.messageId,
  ];
}

function paramList(params: Record<string, string>): ImapValue {
  const entries = Object.entries(params);
  if (entries.length === 0) return null;
  return entries.flatMap(([key, value]) => [key.toUpperCase(), value]);
}

export function renderBodyStructure(part: MimePartJson, extended: boolean): ImapValue[] {
  if (part.type === 'multipart') {
    const children = (part.parts ?? []).map((child) => renderBodyStructure(child, extended));
    // A multipart without parts is invalid IMAP; present it as an empty text part instead.
    const result: ImapValue[] = [concat(children.length > 0 ? children : [['text', 'plain', null, null, null, '7bit', 0, 0]])];
    result.push(part.subtype);
    if (extended) {
      result.push(paramList(part.params), disposition(part), part.language, part.location);
    }
    return result;
  }
  const result: ImapValue[] = [
    part.type,
    part.subtype,
    paramList(part.params),
    part.id,
    part.description,
    part.encoding,
    part.bodyEnd - part.bodyStart,
  ];
  if (part.type === 'message' && part.subtype === 'rfc822' && part.message) {
    result.push(renderEnvelope(part.message.envelope), renderBodyStructure(part.message.root, extended), part.lines);
  } else if (part.type === 'text') {
    result.push(part.lines);
  }
  if (extended) result.push(part.md5, disposition(part), part.language, part.location);
  return result;
}

function disposition(part: MimePartJson): ImapValue {
  if (!part.disposition) return null;
  return [part.disposition.type, paramList(part.disposition.params)];
}
