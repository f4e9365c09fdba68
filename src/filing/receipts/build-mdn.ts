/**
 * A read receipt as RFC 8098 defines it: multipart/report; report-type=disposition-notification,
 * a bilingual human part and the machine-readable message/disposition-notification part. The
 * original is not returned (not even its header: its Subject may name the patient).
 */
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { ReceiptRow } from '../../store/types.js';

export interface MdnInput {
  /** This gateway's host name (Reporting-UA). */
  reportingHost: string;
  from: string;
  to: string;
  /** The record-server account the item was delivered to (Final-Recipient). */
  recordServer: string;
  /** Message-ID the sender wrote. */
  originalMessageId: string;
  disposition: ReceiptRow['disposition'];
  error: string | null;
  date?: Date;
}

const TEXT: Record<ReceiptRow['disposition'], { subject: string; fr: string; en: string }> = {
  processed: {
    subject: 'Accusé de traitement / Disposition notification (processed)',
    fr: 'Votre message sécurisé a été reçu et classé par le serveur de dossiers partagés :',
    en: 'Your secure message was received and filed by the shared-record server:',
  },
  'processed/error': {
    subject: 'Accusé de traitement : erreur / Disposition notification (error)',
    fr: "Votre message sécurisé a été reçu par le serveur de dossiers partagés, mais n'a pas pu être classé :",
    en: 'Your secure message was received by the shared-record server but could not be filed:',
  },
  'deleted/error': {
    subject: 'Accusé de traitement : refusé / Disposition notification (denied)',
    fr: "Votre message sécurisé a été refusé par le serveur de dossiers partagés et n'a pas été classé :",
    en: 'Your secure message was refused by the shared-record server and was not filed:',
  },
};

/** The message/disposition-notification fields (RFC 8098 §3.1), CRLF-terminated. */
export function dispositionFields(input: MdnInput): string {
  return [
    `Reporting-UA: ${input.reportingHost}; medgate`,
    `Final-Recipient: rfc822; ${input.recordServer}`,
    `Original-Message-ID: ${asciiLine(input.originalMessageId)}`,
    `Disposition: automatic-action/MDN-sent-automatically; ${input.disposition}`,
    ...(input.error ? [`Error: ${asciiLine(input.error)}`] : []),
    '',
  ].join('\r\n');
}

/**
 * A value written into a receipt's field or text line: one line of printable ASCII. The original
 * Message-ID comes from the sender's routing header, a string the sender chose: a CR/LF in it must
 * not become a field of its own.
 */
export function asciiLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 900);
}

/**
 * The original Message-ID as an In-Reply-To / References value: only a well-formed msg-id (RFC 5322
 * §3.6.4: `<`, printable ASCII without spaces or angle brackets, `>`) of a length a header line
 * holds; anything else is left out of those fields (it still stands, made one line, in the
 * report's own fields). A 10 000-character id went out as one header line of that length.
 */
export function replyReference(s: string): string | undefined {
  return /^<[\x21-\x3b\x3d\x3f-\x7e]{1,900}>$/.test(s) ? s : undefined;
}

/** In-Reply-To and References for a receipt to `originalMessageId`, when it is a well-formed msg-id. */
export function replyFields(originalMessageId: string): { inReplyTo?: string; references?: string } {
  const id = replyReference(originalMessageId);
  return id ? { inReplyTo: id, references: id } : {};
}

function humanText(input: MdnInput): string {
  const t = TEXT[input.disposition];
  return [
    '--- Français ---', '', t.fr, '', `    ${input.recordServer}`, '',
    `Référence du message : ${asciiLine(input.originalMessageId)}`,
    ...(input.error ? [`Motif (en anglais) : ${input.error}`] : []),
    '', '--- English ---', '', t.en, '', `    ${input.recordServer}`, '',
    `Message reference: ${asciiLine(input.originalMessageId)}`,
    ...(input.error ? [`Reason: ${input.error}`] : []),
    '',
    "Le contenu du message reste chiffré et n'est pas reproduit ici. / The message content stays encrypted and is not reproduced here.",
    '',
  ].join('\r\n');
}

export async function buildMdn(input: MdnInput): Promise<Buffer> {
  const composer = new MailComposer({
    from: input.from,
    to: input.to,
    subject: TEXT[input.disposition].subject,
    date: input.date ?? new Date(),
    ...replyFields(input.originalMessageId),
    headers: { 'Auto-Submitted': 'auto-replied' },
    text: humanText(input),
    attachments: [
      { contentType: 'message/disposition-notification', content: dispositionFields(input), contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false },
    ],
  });
  const root = composer.compile();
  root.setHeader('Content-Type', 'multipart/report; report-type=disposition-notification');
  return new Promise<Buffer>((resolve, reject) => root.build((err: Error | null, buf: Buffer) => (err ? reject(err) : resolve(buf))));
}
