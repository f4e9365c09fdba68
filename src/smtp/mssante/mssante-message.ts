/**
 * The plain MIME an MSSanté mailbox receives (issue 28 item 3). Practice software integrates mail
 * that carries an IHE XDM archive; a doctor writing from plain Outlook sends none. So, when medgate
 * identified the patient and the message has no IHE_XDM.ZIP, it adds one (xdm-writer.ts) with one
 * entry per document (each attachment, or the text when there is none), each wrapped in a CDA R2
 * non-structured document when its type allows (cda-writer.ts), the author from the directory and
 * the codes of the document types it classified. It sets MSSanté's subject convention
 * `XDM/1.0/DDM+<label> <NOM> <prénom> <JJ/MM/AAAA>` and the headers the Référentiel socle MSSanté #2
 * asks of a message whose archive holds CDA documents: `X-MSS-CODECDA` (ECO.2.4.1, the CDA codes)
 * and `X-MSS-INS` (ECO.2.4.2, mss-headers.ts); `X-MSS-NIL` (ECO.2.4.3) when the operator configured
 * the product reference. A sender's own X-MSS-* fields are not carried over into a message medgate
 * rewrote: they described another message.
 *
 * The original is kept byte for byte: it becomes the first part of a multipart/mixed whose second
 * part is the archive (nodemailer's MimeNode builds it); its header fields move to the new top level
 * unchanged, except the Content-* fields, which stay with the original part, and the Subject.
 * Without an identified patient the message goes as written (no XDM can name nobody); with an
 * archive already there, as written (its writer set the X-MSS-* fields its CDA content calls for).
 * Either way it gets `X-MSS-NIL` when configured and absent.
 */
import MimeNode from 'nodemailer/lib/mime-node/index.js';
import { listFieldSpans, splitHeaderBlock } from '../../crypto/seal/header-block.js';
import type { DocumentType } from '../../message/classify/index.js';
import { readXdm } from '../../message/identity/index.js';
import { typeCodeOf } from '../../message/identity/document-codes.js';
import { writeXdm, type XdmDocumentInput } from '../../message/identity/xdm-writer.js';
import { parseForExtraction, type ExtractionInput } from '../../message/parse.js';
import type { SealedSubmission } from '../../message/seal-submission.js';
import type { DirectoryEntry } from '../../store/types.js';
import { mssHeaders, withProductReference } from './mss-headers.js';

export interface MssanteMessageInput {
  raw: Buffer;
  facts: Pick<SealedSubmission, 'patient' | 'documentType' | 'documents'>;
  sender: DirectoryEntry;
  /** The gateway's domain (the CDA custodian when the sender has no organisation) and `mssante.productReference`. */
  gateway: { domain: string; productReference?: string | undefined };
  now?: Date;
}

/** The documents the archive lists: every attachment, or the text body when there is none. */
function documentsOf(input: ExtractionInput, facts: MssanteMessageInput['facts']): XdmDocumentInput[] {
  const typeOf = (part: string): DocumentType => facts.documents.find((d) => d.part === part)?.type ?? facts.documentType;
  const docs = input.attachments.map((a, i): XdmDocumentInput => {
    const part = a.filename ?? `attachment#${i + 1}`;
    return { fileName: part, mimeType: a.contentType || 'application/octet-stream', content: a.content, type: typeOf(part), title: part };
  });
  if (docs.length) return docs;
  const text = input.textBody ?? '';
  // Titled as the subject convention labels it: the patient is named by the archive, not by a title.
  return [{ fileName: 'message.txt', mimeType: 'text/plain', content: Buffer.from(text, 'utf8'), type: typeOf('body'), title: labelOf(input.subject, typeOf('body')) }];
}

/** The `<label>` of the subject convention: what the doctor wrote, without a `PATIENT:` tag. */
function labelOf(subject: string | undefined, type: DocumentType): string {
  // The subject tag (docs/patient-identity.md) is replaced by the convention's own patient part.
  const written = (subject ?? '').replace(/PATIENT\s*:\s*.*?\d{1,2}\/\d{1,2}\/\d{4}\s*[-–:]?\s*/i, '').replace(/\s+/g, ' ').trim();
  return written || typeCodeOf(type).displayName;
}

function frenchDate(iso: string): string {
  const [y, m, d] = iso.split('-');
  return `${d}/${m}/${y}`;
}

export async function buildMssanteMessage(o: MssanteMessageInput): Promise<Buffer> {
  const { header, body } = splitHeaderBlock(o.raw);
  const patient = o.facts.patient;
  const asWritten = (): Buffer => withProductReference(o.raw, header, o.gateway.productReference);
  if (!patient) return asWritten();
  const input = await parseForExtraction(o.raw);
  if (readXdm(input)) return asWritten();
  const documents = documentsOf(input, o.facts);
  const custodian = o.sender.organisation ?? o.gateway.domain;
  const xdm = writeXdm({ patient, author: o.sender, documents, custodian, ...(o.now ? { time: o.now } : {}) });

  const root = new MimeNode('multipart/mixed');
  const original = root.createChild('text/plain'); // replaced by setRaw below
  const contentFields: string[] = [];
  for (const span of listFieldSpans(header)) {
    const field = header.toString('utf8', span.start, span.valueEnd);
    const name = span.name.toLowerCase();
    if (name.startsWith('content-')) contentFields.push(field);
    else if (name === 'mime-version' || name === 'subject' || name.startsWith('x-mss-')) continue;
    // `prepared`: written as it came (folding, encoded words), not re-encoded. nodemailer supports
    // it (mime-node buildHeaders); its type definitions only know string values.
    else root.addHeader(span.name, { prepared: true, value: field.slice(field.indexOf(':') + 1).replace(/^[ \t]+/, '') } as unknown as string);
  }
  root.setHeader('Subject', `XDM/1.0/DDM+${labelOf(input.subject, o.facts.documentType)} ${patient.familyName} ${patient.givenName} ${frenchDate(patient.birthDate)}`);
  original.setRaw(Buffer.concat([Buffer.from(contentFields.map((f) => `${f}\r\n`).join(''), 'utf8'), Buffer.from('\r\n'), body]));
  root.createChild('application/zip', { filename: 'IHE_XDM.ZIP' })
    .setHeader('Content-Disposition', 'attachment')
    .setContent(xdm.zip);
  // Written as the Référentiel spells them (nodemailer would write `X-Mss-Codecda`): ASCII values.
  const fields = mssHeaders(xdm.cdaCodes, patient, o.gateway.productReference).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return Buffer.concat([Buffer.from(fields, 'ascii'), await root.build()]);
}
