/** What seal() and sealFile() both derive from the original header block: the clear transport layer. */
import { listFieldSpans, type FieldSpan } from './header-block.js';
import { addressesOf, firstValue, isEncryptedContentType, parseContentType } from './header-values.js';
import { DEFAULT_OUTER_SUBJECT, newMessageId, transportFieldList } from './outer-message.js';
import { formatRfc5322Date } from './rfc5322-date.js';

/** Header fields of a client-encrypted message that describe its (kept) body. */
const BODY_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id']);

export interface OuterPlan {
  spans: FieldSpan[];
  alreadyEncrypted: boolean;
  /** The fresh outer Message-ID (the original stays inside), or the one the caller fixed. */
  messageId: string;
  transport: Array<[string, string]>;
}

export function planOuterLayer(header: Buffer, envelopeFrom: string, outerSubject: string | undefined, outerMessageId?: string): OuterPlan {
  const spans = listFieldSpans(header);
  const alreadyEncrypted = isEncryptedContentType(parseContentType(header, spans));
  const from = addressesOf(header, 'from', spans)[0] ?? envelopeFrom;
  const messageId = outerMessageId ?? newMessageId(from);
  // Bcc is never copied out; display names are dropped (they may name a patient or a service).
  const transport = transportFieldList({
    from,
    to: addressesOf(header, 'to', spans),
    cc: addressesOf(header, 'cc', spans),
    date: formatRfc5322Date(parseDate(firstValue(header, 'date', spans))),
    messageId,
    subject: outerSubject ?? DEFAULT_OUTER_SUBJECT,
  });
  return { spans, alreadyEncrypted, messageId, transport };
}

/**
 * Client-encrypted input keeps its body and the fields describing it, byte for byte (line endings of
 * those fields normalised to CRLF); every other header field is replaced by the transport set.
 */
export function clientEncryptedBodyFields(header: Buffer, spans: FieldSpan[]): string[] {
  return spans
    .filter((f) => BODY_FIELDS.has(f.name.toLowerCase()))
    .map((f) => header.toString('utf8', f.start, f.valueEnd).replace(/\r?\n/g, '\r\n'));
}

function parseDate(value: string | undefined): Date {
  const d = value ? new Date(value.replace(/\([^)]*\)/g, '')) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}
