/** The filing tables' rows as both stores read them, and their mappings to the store's types. */
import type { DocumentRow, PatientRow, ReceiptRow, RecordRequestRow, ReconcileRow, ReconcileStatus, RequestBasis } from '../types.js';
import { bool, type DbBool } from './columns.js';

export interface PatientDb {
  id: string; status: string; merged_into: string | null; identity_enc: string; ins_hash: string | null; traits_hash: string;
  family_birth_hash: string; given_birth_hash: string; access_code_enc: string; created_at: string; updated_at: string;
  treating_doctor: string | null;
}
export interface DocumentDb {
  seq: number; id: string; patient_id: string | null; message_id: string; part_hash: string; part_enc: string; type: string; tab: string; doc_date: string;
  sender_address: string; sender_role: string | null; title_enc: string | null; blob_id: string; content_digest: string | null;
  verified: DbBool; signer_fingerprint: string | null; author_enc: string | null; superseded_by: string | null; filed_at: string;
  written_as: string | null;
}
export interface ReconcileDb {
  id: string; patient_id: string | null; candidate_id: string | null; reason: string; message_id: string | null;
  status: string; created_at: string; resolved_at: string | null;
}
export interface RequestDb {
  id: string; patient_id: string; doctor: string; basis: string; document_id: string | null; reason_enc: string | null; outcome: string; at: string;
}
export interface ReceiptDb {
  message_id: string; record_server: string; mdn_to: string; original_message_id: string;
  disposition: string; error: string | null; created_at: string; sent_at: string | null;
}

export const patientFrom = (r: PatientDb): PatientRow => ({
  id: r.id, status: r.status as PatientRow['status'], mergedInto: r.merged_into, identityEnc: r.identity_enc, insHash: r.ins_hash,
  traitsHash: r.traits_hash, familyBirthHash: r.family_birth_hash, givenBirthHash: r.given_birth_hash,
  accessCodeEnc: r.access_code_enc, treatingDoctor: r.treating_doctor ?? null, createdAt: r.created_at, updatedAt: r.updated_at,
});
export const documentFrom = (r: DocumentDb): DocumentRow => ({
  id: r.id, patientId: r.patient_id, messageId: r.message_id, partHash: r.part_hash, partEnc: r.part_enc, type: r.type, tab: r.tab, date: r.doc_date,
  senderAddress: r.sender_address, senderRole: r.sender_role, titleEnc: r.title_enc, blobId: r.blob_id, contentDigest: r.content_digest,
  verified: bool(r.verified), signerFingerprint: r.signer_fingerprint, authorEnc: r.author_enc ?? null, writtenAs: r.written_as ?? null, supersededBy: r.superseded_by, filedAt: r.filed_at, seq: r.seq,
});
export const reconcileFrom = (r: ReconcileDb): ReconcileRow => ({
  id: r.id, patientId: r.patient_id, candidateId: r.candidate_id, reason: r.reason, messageId: r.message_id,
  status: r.status as ReconcileStatus, createdAt: r.created_at, resolvedAt: r.resolved_at,
});
export const requestFrom = (r: RequestDb): RecordRequestRow => ({
  id: r.id, patientId: r.patient_id, doctor: r.doctor, basis: r.basis as RequestBasis, documentId: r.document_id,
  reasonEnc: r.reason_enc, outcome: r.outcome as RecordRequestRow['outcome'], at: r.at,
});
export const receiptFrom = (r: ReceiptDb): ReceiptRow => ({
  messageId: r.message_id, recordServer: r.record_server, mdnTo: r.mdn_to, originalMessageId: r.original_message_id,
  disposition: r.disposition as ReceiptRow['disposition'], error: r.error, createdAt: r.created_at, sentAt: r.sent_at,
});

/** The column of each patient field an update may change. */
export const PATIENT_COLUMNS = {
  status: 'status', mergedInto: 'merged_into', identityEnc: 'identity_enc', insHash: 'ins_hash', traitsHash: 'traits_hash',
  familyBirthHash: 'family_birth_hash', givenBirthHash: 'given_birth_hash', accessCodeEnc: 'access_code_enc', updatedAt: 'updated_at', treatingDoctor: 'treating_doctor',
} as const;
