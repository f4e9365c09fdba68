import type * as openpgp from 'openpgp';
import { seal, type RoutingInput } from '../crypto/seal/index.js';
import { roleOf } from '../directory/professions.js';
import type { DirectoryEntry } from '../store/types.js';
import { classifyMessage, type DocumentType } from './classify/index.js';
import { extractPatientIdentity, type IdentityConflict, type PatientIdentity } from './identity/index.js';
import { parseForExtraction } from './parse.js';

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

/**
 * The CPU-heavy part of accepting a message, with no I/O: find the patient and the document type,
 * build the routing header from the sender's directory identity, sign and encrypt. Runs inline or
 * in a worker thread (src/message/worker).
 */
export async function sealSubmission(req: SubmissionToSeal): Promise<SealedSubmission> {
  const input = await parseForExtraction(req.raw);
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
  const filingKeys = req.recipients.map((r) => r.filingKey).filter((k): k is openpgp.PublicKey => !!k);
  const result = await seal({
    raw: req.raw,
    routing,
    signingKey: req.signingKey,
    recipientKeys: [...req.recipients.map((r) => r.publicKey), req.signingKey.toPublic()],
    filingKeys,
    envelope: { from: req.envelopeFrom, to: req.recipients.map((r) => r.address) },
  });
  return {
    sealed: result.sealed, messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted, routing,
    patient: p, conflicts: extraction.conflicts, documentType: classification.type,
    documents: classification.documents.map((d) => ({ part: d.part, type: d.type })),
  };
}
