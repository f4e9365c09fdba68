/**
 * Interpreting header field values with the mail libraries (nodemailer's mime-funcs and
 * addressparser): Content-Type with its parameters, address lists. No home-grown grammar here.
 */
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { MedgateError } from '../../errors.js';
import { fieldValue, findField, listFieldSpans, splitHeaderBlock, type FieldSpan } from './header-block.js';

/**
 * The longest address field value read (16 KiB: hundreds of named recipients). addressparser's time
 * grows faster than the length: a folded 800 KB From field ("a@b," repeated) held the process for
 * minutes; 16 KiB of the worst shapes take well under a second.
 */
export const MAX_ADDRESS_FIELD = 16 * 1024;
export const MESSAGE_ADDRESS_FIELD_TOO_LONG = 'MESSAGE_ADDRESS_FIELD_TOO_LONG';

export interface ContentType {
  /** Lower-case type/subtype, `text/plain` when the field is absent (RFC 2045 default). */
  type: string;
  /** Parameters with lower-case names. */
  params: Record<string, string>;
  present: boolean;
}

/** `spans`, here and below: listFieldSpans of the same header, when the caller already has it. */
export function parseContentType(header: Buffer, spans?: FieldSpan[]): ContentType {
  const span = findField(header, 'content-type', spans);
  if (!span) return { type: 'text/plain', params: {}, present: false };
  const parsed = mimeFuncs.parseHeaderValue(fieldValue(header, span));
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.params)) params[k.toLowerCase()] = String(v);
  return { type: parsed.value.trim().toLowerCase(), params, present: true };
}

/** Every address (addr-spec only, display names dropped) of every field with that name; MESSAGE_ADDRESS_FIELD_TOO_LONG past MAX_ADDRESS_FIELD. */
export function addressesOf(header: Buffer, fieldName: string, spans: FieldSpan[] = listFieldSpans(header)): string[] {
  const wanted = fieldName.toLowerCase();
  const out: string[] = [];
  for (const span of spans) {
    if (span.name.toLowerCase() !== wanted) continue;
    const value = fieldValue(header, span);
    if (value.length > MAX_ADDRESS_FIELD) {
      throw new MedgateError(MESSAGE_ADDRESS_FIELD_TOO_LONG, `The ${span.name} header field is longer than ${MAX_ADDRESS_FIELD} characters, more than medgate reads as an address list`, { field: span.name, length: value.length, max: MAX_ADDRESS_FIELD });
    }
    for (const a of addressparser(value, { flatten: true })) {
      if (a.address) out.push(a.address);
    }
  }
  return out;
}

/**
 * The address whose key signed the content, as a reader checks it: the From address, or the Sender
 * (RFC 5322 §3.6.2, the agent that sent the message) when there is one naming someone else — an
 * application account (practice software) signing for a doctor configured for it. `onBehalfOf` is
 * then the From address, and the directory must know the signer as an application (mailbox type APP).
 */
export function signerAddressOf(header: Buffer): { address: string; onBehalfOf?: string } | undefined {
  const spans = listFieldSpans(header);
  const from = addressesOf(header, 'from', spans)[0];
  const sender = addressesOf(header, 'sender', spans)[0];
  if (sender && sender.toLowerCase() !== from?.toLowerCase()) return { address: sender, onBehalfOf: from ?? '' };
  return from ? { address: from } : undefined;
}

export function firstValue(header: Buffer, fieldName: string, spans?: FieldSpan[]): string | undefined {
  const span = findField(header, fieldName, spans);
  return span ? fieldValue(header, span) : undefined;
}

/** S/MIME types that are signatures or certificates, not encryption. */
const SMIME_NOT_ENCRYPTED = new Set(['signed-data', 'certs-only', 'compressed-data']);

/** True when the top-level entity is PGP/MIME encrypted (RFC 3156) or S/MIME enveloped (RFC 8551). */
export function isEncryptedContentType(ct: ContentType): boolean {
  if (ct.type === 'multipart/encrypted') {
    return (ct.params['protocol'] ?? '').toLowerCase() === 'application/pgp-encrypted';
  }
  if (ct.type === 'application/pkcs7-mime' || ct.type === 'application/x-pkcs7-mime') {
    return !SMIME_NOT_ENCRYPTED.has((ct.params['smime-type'] ?? '').toLowerCase());
  }
  return false;
}

export function isEncryptedMessage(raw: Buffer): boolean {
  return isEncryptedContentType(parseContentType(splitHeaderBlock(raw).header));
}
