/**
 * The integration receipt an MSSanté sender receives (issue 28 item 4), in the format the ANS sets
 * for MSSanté integration receipts: CI-SIS "Volet Transmission d'un document CDA par courriel
 * MSSanté", page "Structure du message MDN" (ansforge/IG-hl7v2-volet-trans-lps-doc-cda-courriel-mss,
 * input/pagecontent/struct-msg-mdn.md), itself RFC 8098 + RFC 6522:
 *
 * - `multipart/report; report-type=disposition-notification`, a human part then the
 *   `message/disposition-notification` part with `Original-Recipient`, `Final-Recipient`,
 *   `Original-Message-ID` and `Disposition: automatic-action/MDN-sent-automatically; processed`, or
 *   `...; processed/Error: <code>^<libellé>` on error;
 * - Subject `XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>`, prefixed on error by
 *   `[KO Intégration système !][<code>] `;
 * - codes from the volet's tables: HL7 messageErrorCondition (207 "Application error") and the
 *   applicationErrorCondition table (902 "Identifiant patient inconnu").
 *
 * What medgate leaves out, on purpose (docs/smtp.md "MSSanté"): the volet's third part, the original
 * message and its attachments. The gateway cannot open them (its filing key opens the routing
 * header only; the content is sealed to the record server's own key) and would not put a medical
 * document back on the wire in clear when its sender holds it already. The third part is a
 * `text/rfc822-headers` naming the original by its Message-ID, sender and recipient (RFC 6522 §3
 * allows it), enough for software to match the receipt. The patient's traits appear only in the
 * Subject, as the format requires, and only those the sender's own message gave (the routing
 * header's), never what the record server's patient base holds.
 */
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { TYPE_CODES, typeCodeOf } from '../../message/identity/document-codes.js';
import type { DocumentType } from '../../message/classify/index.js';
import type { ReceiptRow } from '../../store/types.js';
import { UNIDENTIFIED_RECEIPT_ERROR } from '../filing-service.js';
import { asciiLine, replyFields } from './build-mdn.js';

/** A code and label of the volet's error tables. */
export interface AnsError {
  code: string;
  label: string;
}

/** HL7 messageErrorCondition 207: an application-level error, detailed in the human part. */
export const ANS_APPLICATION_ERROR: AnsError = { code: '207', label: 'Application error' };
/** applicationErrorCondition 902: the patient of the document is not known to the receiving system. */
export const ANS_UNKNOWN_PATIENT: AnsError = { code: '902', label: 'Identifiant patient inconnu' };

/**
 * The ANS error of a receipt row: none for `processed`; 902 for an item kept without a patient; 207
 * for a rights refusal (the volet has no code of its own for "this author may not write this
 * document type": 901 is about replacing or deleting) and for a filing that failed.
 */
export function ansErrorOf(row: Pick<ReceiptRow, 'disposition' | 'error'>): AnsError | undefined {
  if (row.disposition === 'processed') return undefined;
  if (row.error === UNIDENTIFIED_RECEIPT_ERROR) return ANS_UNKNOWN_PATIENT;
  return ANS_APPLICATION_ERROR;
}

export interface AnsMdnInput {
  reportingHost: string;
  /** The record server: From, Original-Recipient and Final-Recipient. */
  recordServer: string;
  to: string;
  originalMessageId: string;
  /** The sender's own address, for the third part. */
  originalSender: string;
  messageId: string;
  row: Pick<ReceiptRow, 'disposition' | 'error'>;
  /** From the item's routing header, when the item was kept (not for a refusal). */
  patient?: { familyName: string; givenName: string; birthDate: string } | null;
  documentType?: DocumentType;
  date?: Date;
  /**
   * `mssante.productReference`: written as `X-MSS-NIL`, which the Référentiel socle MSSanté #2
   * (ECO.2.4.3) asks on every mail the software sends, receipts included.
   */
  productReference?: string | undefined;
}

function frenchDate(iso: string): string {
  const [y, m, d] = iso.split('-');
  return `${d}/${m}/${y}`;
}

/**
 * A patient trait as the Subject shows it: the sender's string, so control characters (a NUL went out
 * raw in the header) become spaces, and a name is cut at 100 characters (a long unbroken word is not
 * folded, and would make a header line longer than RFC 5322's 998).
 */
function subjectTrait(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\s]+/g, ' ').trim().slice(0, 100);
}

/** `XDM/1.0/DDM+<libellé> <NOM> <prénom> <date>`, with the KO prefix on error. */
export function ansSubject(input: Pick<AnsMdnInput, 'patient' | 'documentType'>, error: AnsError | undefined): string {
  // No routing header to read (a refused item): the document is named by nothing of its own.
  // The type is the sender's string: an own key of the table only ("constructor" is not a document type).
  const label = input.documentType && Object.hasOwn(TYPE_CODES, input.documentType) ? typeCodeOf(input.documentType).displayName : 'Document';
  const p = input.patient;
  const xdm = `XDM/1.0/DDM+${label}${p ? ` ${subjectTrait(p.familyName)} ${subjectTrait(p.givenName)} ${frenchDate(p.birthDate)}` : ''}`;
  return error ? `[KO Intégration système !][${error.code}] ${xdm}` : xdm;
}

/** The `message/disposition-notification` fields (the volet's list), CRLF-terminated. */
export function ansDispositionFields(input: AnsMdnInput, error: AnsError | undefined): string {
  return [
    `Reporting-UA: ${input.reportingHost}; medgate`,
    `Original-Recipient: rfc822;${input.recordServer}`,
    `Final-Recipient: rfc822;${input.recordServer}`,
    `Original-Message-ID: ${asciiLine(input.originalMessageId)}`,
    `Disposition: automatic-action/MDN-sent-automatically; ${error ? `processed/Error: ${error.code}^${error.label}` : 'processed'}`,
    // RFC 8098 §3.2.7, for readers of the RFC rather than of the volet: medgate's reason (fixed texts, no patient).
    ...(error && input.row.error ? [`Error: ${asciiLine(input.row.error)}`] : []),
    '',
  ].join('\r\n');
}

function humanText(input: AnsMdnInput, error: AnsError | undefined): string {
  if (!error) {
    return [
      'Le document a été intégré automatiquement dans le dossier du patient par le serveur de dossiers partagés :',
      `    ${input.recordServer}`, '', `Référence du message : ${asciiLine(input.originalMessageId)}`, '',
    ].join('\r\n');
  }
  return [
    "Le message ci-dessous n'a pas pu être intégré automatiquement dans le dossier du patient pour la raison suivante :",
    `    ${error.code}^${error.label}`, '',
    `Détail (en anglais) : ${input.row.error ?? ''}`, '',
    `Serveur de dossiers partagés : ${input.recordServer}`,
    `Référence du message : ${asciiLine(input.originalMessageId)}`, '',
  ].join('\r\n');
}

export async function buildAnsMdn(input: AnsMdnInput): Promise<Buffer> {
  const error = ansErrorOf(input.row);
  const headers = [
    // The sender's address comes from the item's routing header: one line, as the Message-ID.
    `Message-ID: ${asciiLine(input.originalMessageId)}`, `From: <${asciiLine(input.originalSender)}>`, `To: <${input.recordServer}>`, '',
  ].join('\r\n');
  const composer = new MailComposer({
    from: input.recordServer,
    to: input.to,
    subject: ansSubject(input, error),
    date: input.date ?? new Date(),
    messageId: input.messageId,
    ...replyFields(input.originalMessageId),
    headers: { 'Auto-Submitted': 'auto-replied' },
    text: humanText(input, error),
    attachments: [
      { contentType: 'message/disposition-notification', content: ansDispositionFields(input, error), contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false },
      { contentType: 'text/rfc822-headers', content: headers, contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false },
    ],
  });
  const root = composer.compile();
  root.setHeader('Content-Type', 'multipart/report; report-type=disposition-notification');
  const built = await new Promise<Buffer>((resolve, reject) => root.build((err: Error | null, buf: Buffer) => (err ? reject(err) : resolve(buf))));
  // Spelled as the Référentiel spells it (nodemailer would write `X-Mss-Nil`); the config allows printable ASCII only.
  return input.productReference ? Buffer.concat([Buffer.from(`X-MSS-NIL: ${input.productReference}\r\n`, 'ascii'), built]) : built;
}
