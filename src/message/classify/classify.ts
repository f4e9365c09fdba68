/**
 * Document type of a message and of each of its documents. Signals, strongest first:
 * XDM typeCode/classCode (LOINC) → HPRIM `****LAB****` block → attachment name/type →
 * subject keywords → sender's profession/specialty. Every attachment is its own document
 * (an XDM archive counts as its entries); the text body is a document when it is not empty.
 */
import type { HprimDocument } from '../identity/hprim.js';
import { isHprimCandidate } from '../identity/hprim-source.js';
import { titleWithoutSubjectTag } from '../identity/subject-tag.js';
import { attachmentLabel, type XdmContent } from '../identity/xdm.js';
import type { ExtractionInput } from '../parse.js';
import { signalFromAttachment } from './attachments.js';
import { signalFromXdmCodes } from './codes.js';
import { normalizeForKeywords, signalFromKeywords } from './keywords.js';
import { signalFromSender } from './sender.js';
import { summarySectionOf } from './summary-sections.js';
import { signedAsReplacement } from './replacement.js';
import type { AuthorClaim, Classification, ClassifiedDocument, DocumentType, SenderRole, Signal } from './types.js';

export interface ClassifyInput {
  input: ExtractionInput;
  xdm?: XdmContent;
  hprim?: HprimDocument[];
  sender?: SenderRole;
  /**
   * Forwarded messages (by part label), described from their own content and signature
   * (src/message/forwarded-author.ts): each is one document, of its own type, by its own author.
   */
  forwarded?: ReadonlyMap<string, { type: ClassifiedDocument['type']; reason: string; title?: string; author: AuthorClaim }>;
}

export function classifyMessage({ input, xdm, hprim = [], sender, forwarded }: ClassifyInput): Classification {
  // The patient tag names the patient, not the document: a name is no keyword.
  const subjectSignal = signalFromKeywords(input.subject ? titleWithoutSubjectTag(input.subject) : undefined, 'subject');
  const senderSignal = signalFromSender(sender);
  const fallback = (): Signal | undefined => subjectSignal ?? senderSignal;
  const labParts = new Set(hprim.filter((d) => d.hasLabBlock).map((d) => d.part));
  const docs: Array<ClassifiedDocument & { signal?: Signal }> = [];

  for (const e of xdm?.entries ?? []) {
    const signal = signalFromXdmCodes(e.typeCode?.code, e.classCode?.code) ?? signalFromKeywords(e.title, 'xdm title') ?? fallback();
    const doc: ClassifiedDocument & { signal?: Signal } = { part: e.id, type: signal?.type ?? 'other' };
    if (e.title) doc.title = e.title;
    if (e.author && (e.author.id || e.author.name)) doc.author = { source: 'xdm', ...e.author };
    if (signal) doc.signal = signal;
    docs.push(doc);
  }
  if (input.textBody && input.textBody.trim() !== '') {
    const signal = labParts.has('body') ? labSignal() : signalFromBody(input.textBody, attachedTypes(input, xdm, forwarded, labParts, docs), writesReports(sender)) ?? fallback();
    const author = hprimAuthor(hprim, 'body');
    const type = signal?.type ?? 'letter';
    const replacement = type === 'summary' && signedAsReplacement(input.textBody);
    docs.push({ part: 'body', type, ...(signal ? { signal } : {}), ...(author ? { author } : {}), ...(replacement ? { writtenAs: 'replacement' as const } : {}) });
  }
  for (const [index, att] of input.attachments.entries()) {
    const part = attachmentLabel(att, index);
    if (xdm && part === xdm.archive) continue; // represented by its entries
    const fwd = forwarded?.get(part);
    if (fwd) {
      docs.push({ part, type: fwd.type, signal: { type: fwd.type, reason: `attachment ${fwd.reason}` }, author: fwd.author, ...(fwd.title ? { title: fwd.title } : {}) });
      continue;
    }
    const hprimLab = labParts.has(part) && isHprimCandidate(att.filename, att.contentType) ? labSignal() : undefined;
    const signal = hprimLab ?? signalFromAttachment(att) ?? fallback();
    const author = hprimAuthor(hprim, part);
    docs.push({ part, type: signal?.type ?? 'other', ...(signal ? { signal } : {}), ...(author ? { author } : {}) });
  }

  const message = messageSignal(docs, subjectSignal, senderSignal, input);
  return { type: message.type, reason: message.reason, documents: docs.map(({ signal: _signal, ...d }) => d) };
}

const GREETING = /^ (bonjour|bonsoir|cher|chere|chers|cheres|madame|monsieur|ci joint|ci joints|veuillez|je vous|suite a|merci) /;

/**
 * The text body's own type: its first line when that is a title ("Résumé médical", "ECG du
 * 12/03"), a summary when it is laid out in summary sections (antécédents, allergies, traitement en
 * cours, vaccinations…), a letter when it opens as one, else the first title among its next lines
 * (after a heading of its own). Beside attachments, a body that says
 * nothing of itself is the covering note (a letter): the subject names the attachments, not it; and
 * so is a body whose title names the kind of document attached ("Résultat des biopsies" beside the
 * pathologist's PDF, "ECG du jour" beside the ECG): it announces the attachment, it is not a second
 * one — a GP forwarding a histology report has not written one.
 */
function signalFromBody(text: string, attached: ReadonlySet<DocumentType> | undefined, senderWritesReports: boolean): Signal | undefined {
  const lines = text.slice(0, 8000).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const first = lines[0] ?? '';
  if (GREETING.test(normalizeForKeywords(first))) {
    const report = senderWritesReports ? reportInLetterForm(lines) : undefined;
    if (report && !(attached?.has(report.type) && lines.length <= COVERING_NOTE_LINES)) return report;
    return { type: 'letter', reason: 'body opens as a letter' };
  }
  const title = first.length <= 120 ? signalFromKeywords(first, 'body first line') : undefined;
  if (title && attached?.has(title.type) && lines.length <= COVERING_NOTE_LINES && !sectionsOf(lines).size) {
    return { type: 'letter', reason: `body names the attached ${title.type} (covering note)` };
  }
  if (title) return title;
  const sections = sectionsOf(lines);
  if (sections.size >= 2) return { type: 'summary', reason: `body summary sections (${[...sections].sort().join(', ')})` };
  if (attached) return { type: 'letter', reason: 'body beside attachments (covering note)' };
  // A report's title often follows a heading of its own (the practice's name, "Technique", "Actes
  // réalisés"): the first title among the next lines.
  for (const line of lines.slice(1, BODY_TITLE_LINES)) {
    const later = line.length <= 120 ? signalFromKeywords(line, 'body title line') : undefined;
    if (later) return later;
  }
  return undefined;
}

/**
 * Reports written as letters to the referring doctor, by the sentence after the greeting, in the
 * formulas of French medical correspondence: the specialist's "J'ai vu en consultation votre
 * patiente…" / "Je vous remercie de m'avoir adressé…" is his consultation report; the ward's "Votre
 * patient a été hospitalisé dans notre service du… au…" is the discharge letter. A letter sending the
 * patient ("je vous adresse", "merci de recevoir", "pour avis") stays a letter, even when its writer
 * has seen the patient.
 */
const SENDS_THE_PATIENT = / (je vous adresse|je t adresse|je vous confie|je te confie|merci de bien vouloir recevoir|merci de recevoir|pourriez vous recevoir|pour avis|demande d avis|je sollicite) /;
const LETTER_FORM_REPORTS: ReadonlyArray<{ type: DocumentType; says: RegExp; reason: string }> = [
  { type: 'hospital-report', says: / (a ete|est|etait) (hospitalise|hospitalisee|admis|admise|pris en charge|prise en charge) (dans|au sein|en|du|le)\b| (a sejourne|au cours de son sejour|au cours de son hospitalisation)\b/, reason: 'a stay' },
  { type: 'consultation-report', says: / (j ai|nous avons|que j ai|que nous avons|je l ai) (vu|vue|revu|revue|recu|recue|examine|examinee)\b| (vu|vue|revu|revue|recu|recue) (ce jour |aujourd hui )?en consultation\b| m avoir (adresse|adressee|confie|confiee)\b| m avez (adresse|adressee|confie|confiee)\b/, reason: 'a consultation' },
];

/**
 * Whether the sender's letters can be the reports their wording tells (reportInLetterForm): a doctor
 * (profession 10) or an organisation (a hospital's mailbox); or no sender known (a forwarded
 * message, typed from its own content, its author judged on its own). A nurse, a physiotherapist, a
 * pharmacist who writes "j'ai vu Mme X ce matin" writes a letter: typed a consultation report, her
 * message to a shared record was refused whole by the rights matrix (a report she may not author).
 * An application mailbox's role is the operator's to set (filing.senders): its letters stay letters.
 */
function writesReports(sender: SenderRole | undefined): boolean {
  if (!sender) return true;
  if (sender.mailboxType === 'ORG') return true;
  if (sender.mailboxType === 'APP') return false;
  return sender.professionCode?.trim() === '10';
}

function reportInLetterForm(lines: string[]): Signal | undefined {
  const opening = normalizeForKeywords(lines.slice(0, 3).join(' ').slice(0, 400));
  if (SENDS_THE_PATIENT.test(opening)) return undefined;
  const hit = LETTER_FORM_REPORTS.find((r) => r.says.test(opening));
  return hit ? { type: hit.type, reason: `body is a letter reporting ${hit.reason}` } : undefined;
}

/** How far down a body without attachments its title is looked for. */
const BODY_TITLE_LINES = 5;

/** A body this short beside attachments is a covering note; a longer one is a report of its own. */
const COVERING_NOTE_LINES = 3;

function sectionsOf(lines: string[]): Set<string> {
  return new Set(lines.slice(0, 60).map((l) => summarySectionOf(l)?.key).filter((s): s is string => s !== undefined));
}

/** The types of the message's other documents (its XDM entries, attachments, forwarded messages); undefined without any. */
function attachedTypes(
  input: ExtractionInput, xdm: XdmContent | undefined, forwarded: ClassifyInput['forwarded'], labParts: ReadonlySet<string>,
  xdmDocs: ReadonlyArray<{ type: DocumentType }>,
): Set<DocumentType> | undefined {
  if (input.attachments.length === 0) return undefined;
  const types = new Set<DocumentType>(xdmDocs.map((d) => d.type));
  for (const [index, att] of input.attachments.entries()) {
    const part = attachmentLabel(att, index);
    if (xdm && part === xdm.archive) continue;
    const type = forwarded?.get(part)?.type ?? (labParts.has(part) && isHprimCandidate(att.filename, att.contentType) ? 'biology' : signalFromAttachment(att)?.type);
    if (type) types.add(type);
  }
  return types;
}

/** The lab an HPRIM part names on line 11 (its first section's). */
function hprimAuthor(hprim: HprimDocument[], part: string): AuthorClaim | undefined {
  const sender = hprim.find((d) => d.part === part)?.sections[0]?.sender;
  return sender ? { source: 'hprim', id: sender.code, ...(sender.name ? { name: sender.name } : {}) } : undefined;
}

function labSignal(): Signal {
  return { type: 'biology', reason: 'HPRIM ****LAB**** block' };
}

/** The message's own type follows the strongest signal any of its documents carries. */
function messageSignal(
  docs: Array<{ signal?: Signal }>,
  subject: Signal | undefined,
  sender: Signal | undefined,
  input: ExtractionInput,
): Signal {
  const signals = docs.map((d) => d.signal).filter((s): s is Signal => s !== undefined);
  const first = (prefix: string): Signal | undefined => signals.find((s) => s.reason.startsWith(prefix));
  const chosen =
    first('xdm typeCode') ??
    first('xdm classCode') ??
    first('HPRIM') ??
    first('attachment') ??
    first('xdm title') ??
    subject ??
    sender;
  if (chosen) return chosen;
  if (input.attachments.length === 0 && input.textBody) return { type: 'letter', reason: 'plain text message without attachment' };
  return { type: 'other', reason: 'no classification signal' };
}
