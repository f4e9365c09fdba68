import type * as openpgp from 'openpgp';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { seal, type RoutingInput } from '../crypto/seal/index.js';
import { roleOf } from '../directory/professions.js';
import type { DirectoryEntry } from '../store/types.js';
import { classifyMessage, type DocumentType } from './classify/index.js';
import { extractPatientIdentity, type IdentityConflict, type PatientIdentity } from './identity/index.js';
import { parseForExtraction, type ExtractionInput } from './parse.js';
import { parseFileForExtraction } from './parse-stream.js';
import { sealFile } from '../crypto/seal/seal-stream.js';
import type { SealedFile } from '../store/types.js';

export interface SubmissionToSeal {
  raw: Buffer;
  senderAddress: string;
  senderEntry: DirectoryEntry;
  signingKey: openpgp.PrivateKey;
  recipients: Array<{ address: string; publicKey: openpgp.PublicKey; filingKey: openpgp.PublicKey | undefined }>;
  envelopeFrom: string;
}

export interface SealedSubmission {
  sealed: Buffer;
  /** Outer Message-ID of the sealed message (not medical). */
  messageId: string;
  alreadyEncrypted: boolean;
  routing: RoutingInput;
  patient: PatientIdentity | undefined;
  /** Which fields disagree between which sources (no values: nothing medical). */
  conflicts: IdentityConflict[];
  documentType: DocumentType;
  documents: Array<{ part: string; type: DocumentType }>;
}

function headerDate(value: string | undefined): string {
  const d = value ? new Date(value) : new Date();
  return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString().slice(0, 10);
}

/** What the seal needs besides the keys: the routing header and what the gateway learned. */
type SubmissionFacts = Omit<SealedSubmission, 'sealed' | 'messageId' | 'alreadyEncrypted'>;

function describeSubmission(input: ExtractionInput, req: Omit<SubmissionToSeal, 'raw'>): SubmissionFacts {
  const extraction = extractPatientIdentity(input);
  const classification = classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, sender: req.senderEntry });
  const p = extraction.patient;
  const e = req.senderEntry;
  const routing: RoutingInput = {
    messageId: input.headers.get('message-id') ?? '',
    patient: p ? {
      familyName: p.familyName, givenName: p.givenName, birthDate: p.birthDate,
      ...(p.sex ? { sex: p.sex } : {}), ...(p.ins ? { ins: { value: p.ins.value, oid: p.ins.oid } } : {}),
    } : null,
    document: {
      type: classification.type,
      date: headerDate(input.headers.get('date')),
      ...(input.subject ? { title: input.subject.slice(0, 200) } : {}),
    },
    sender: {
      address: req.senderAddress, nationalId: e.nationalId, professionCode: e.professionCode,
      professionLabel: e.professionLabel, specialtyCode: e.specialtyCode, role: roleOf(e),
    },
    recipients: req.recipients.map((r) => r.address),
    documents: classification.documents.map((d) => ({ part: d.part, type: d.type, ...(d.title ? { title: d.title.slice(0, 200) } : {}) })),
  };
  const mdnTo = receiptAddress(input.headers.get('disposition-notification-to'));
  if (mdnTo) routing.mdnTo = mdnTo;
  return {
    routing, patient: p, conflicts: extraction.conflicts, documentType: classification.type,
    documents: classification.documents.map((d) => ({ part: d.part, type: d.type })),
  };
}

/**
 * The address of a read-receipt request (RFC 8098 §2.1 `Disposition-Notification-To`): the first
 * mailbox, lower-cased; none when the field is absent or names no address. Whether a receipt is
 * then sent automatically is the record server's gateway's decision (src/filing/receipts).
 */
function receiptAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const first = addressparser(value, { flatten: true }).find((a) => a.address);
  return first?.address ? first.address.trim().toLowerCase().slice(0, 320) : undefined;
}

function sealKeys(req: Omit<SubmissionToSeal, 'raw'>) {
  return {
    signingKey: req.signingKey,
    recipientKeys: [...req.recipients.map((r) => r.publicKey), req.signingKey.toPublic()],
    filingKeys: req.recipients.map((r) => r.filingKey).filter((k): k is openpgp.PublicKey => !!k),
    envelope: { from: req.envelopeFrom, to: req.recipients.map((r) => r.address) },
  };
}

/**
 * The CPU-heavy part of accepting a message, with no I/O: find the patient and the document type,
 * build the routing header from the sender's directory identity, sign and encrypt. Runs inline or
 * in a worker thread (src/message/worker).
 */
export async function sealSubmission(req: SubmissionToSeal): Promise<SealedSubmission> {
  const facts = describeSubmission(await parseForExtraction(req.raw), req);
  const result = await seal({ raw: req.raw, routing: facts.routing, ...sealKeys(req) });
  return { ...facts, sealed: result.sealed, messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted };
}

/** A submission spooled to disk, sealed to a file: memory does not grow with the message (issue 4). */
export interface SubmissionFileToSeal extends Omit<SubmissionToSeal, 'raw'> {
  rawFile: string;
  /** Created by the seal (0600, fsynced); the caller commits it to the store or removes it. */
  outFile: string;
}

export interface SealedSubmissionFile extends Omit<SealedSubmission, 'sealed'> {
  sealed: SealedFile;
}

export async function sealSubmissionFile(req: SubmissionFileToSeal): Promise<SealedSubmissionFile> {
  const facts = describeSubmission(await parseFileForExtraction(req.rawFile), req);
  const result = await sealFile({ rawFile: req.rawFile, outFile: req.outFile, routing: facts.routing, ...sealKeys(req) });
  return {
    ...facts, sealed: { path: req.outFile, size: result.size, sha256: result.sha256 },
    messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted,
  };
}
