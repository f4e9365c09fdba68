/**
 * Sending a patient's record (or one document) to a doctor on request (issue 6 item 4).
 *
 * Who may ask: the patient's treating doctor; another health professional presenting the patient's
 * access code; or anyone of those in an emergency ("bris de glace"), with a reason that is stored
 * encrypted and listed for justification afterwards. Every decision — sent or refused — is a row in
 * `filing_requests` and a `filing.request` audit record (patient id, basis, outcome; never names).
 *
 * What is sent: the sealed items referenced by the filing store, re-addressed to the doctor by
 * re-wrapping their session keys with the record server's key (src/filing/rewrap.ts): the content
 * is never decrypted.
 */
import { randomUUID } from 'node:crypto';
import type * as openpgp from 'openpgp';
import type { GatewayContext } from '../context.js';
import { splitHeaderBlock } from '../crypto/seal/header-block.js';
import { firstValue } from '../crypto/seal/header-values.js';
import type { DirectoryEntry, NewQueueItem } from '../store/types.js';
import { filingFor } from './context.js';
import { FilingError, FilingErrorCode } from './errors.js';
import type { FilingService } from './filing-service.js';
import type { DocumentRow, RecordRequestRow, RequestBasis } from '../store/types.js';
import { rewrapSealed } from './rewrap.js';

/** Fixed refusal reasons (audit details and the operator's error message). */
export type RefusalReason =
  | 'doctor-unreachable'
  | 'not-a-health-professional'
  | 'access-code-required'
  | 'access-code-wrong'
  | 'emergency-reason-missing';

const REFUSAL_TEXT: Record<RefusalReason, string> = {
  'doctor-unreachable': 'the doctor cannot receive secure mail from this gateway (unknown, inactive, without key or domain not allowed)',
  'not-a-health-professional': 'only a health professional (a person with a profession in the directory) may ask for a record',
  'access-code-required': 'the doctor is not the patient\'s treating doctor: the patient\'s access code (or an emergency request with a reason) is required',
  'access-code-wrong': 'the access code does not match this patient',
  'emergency-reason-missing': 'an emergency request must give a reason',
};

export interface RecordRequest {
  patientId: string;
  /** Address of the doctor asking (and receiving). */
  doctor: string;
  /** One document only; default: every document of the patient. */
  documentId?: string;
  accessCode?: string;
  /** Emergency ("bris de glace") request: allowed without access code, must carry a reason. */
  emergencyReason?: string;
  /** The record-server account whose key opens the filed items. */
  recordServer: { address: string; password: string };
  /** Who asks, for the record server's unlock audit (`cli` by default; `console` from the record console). */
  via?: string;
}

export interface RecordRequestResult {
  requestId: string;
  patientId: string;
  basis: RequestBasis;
  /** Filing-store documents covered (several documents may share one sealed item). */
  documents: number;
  /** Sealed items sent (one per distinct sealed message). */
  messages: number;
  delivery: 'local' | 'queued';
}

function refused(reason: RefusalReason): FilingError {
  return new FilingError(FilingErrorCode.REQUEST_REFUSED, `Record request refused: ${REFUSAL_TEXT[reason]}`, { reason });
}

function isHealthProfessional(e: DirectoryEntry): boolean {
  return e.mailboxType === 'PER' && !!(e.professionCode || e.professionLabel);
}

interface Decision {
  basis: RequestBasis;
  refusal?: RefusalReason;
}

/** Who may ask: the treating doctor, else a professional with the right access code, else an emergency with a reason. */
async function decide(filing: FilingService, patientId: string, doctor: string, entry: DirectoryEntry | undefined, req: RecordRequest): Promise<Decision> {
  const claimed: RequestBasis = req.emergencyReason !== undefined ? 'emergency' : req.accessCode !== undefined ? 'access-code' : 'treating';
  if (!entry) return { basis: claimed, refusal: 'doctor-unreachable' };
  if ((await filing.treatingDoctor(patientId)) === doctor) return { basis: 'treating' };
  if (!isHealthProfessional(entry)) return { basis: claimed, refusal: 'not-a-health-professional' };
  if (req.accessCode !== undefined) {
    return (await filing.checkAccessCode(patientId, req.accessCode)) ? { basis: 'access-code' } : { basis: 'access-code', refusal: 'access-code-wrong' };
  }
  if (req.emergencyReason !== undefined) {
    return req.emergencyReason.trim() ? { basis: 'emergency' } : { basis: 'emergency', refusal: 'emergency-reason-missing' };
  }
  return { basis: claimed, refusal: 'access-code-required' };
}

/** Handles one request end to end; throws FilingError REQUEST_REFUSED (after recording it) when not allowed. */
export async function sendRecord(ctx: GatewayContext, req: RecordRequest): Promise<RecordRequestResult> {
  const requestId = randomUUID();
  const doctor = req.doctor.trim().toLowerCase();
  const rmp = await ctx.accounts.unlock(req.recordServer.address, req.recordServer.password, { via: req.via ?? 'cli' });
  if (rmp.account.kind !== 'rmp') {
    throw new FilingError(FilingErrorCode.NOT_A_RECORD_SERVER, `${rmp.account.address} is not a record-server account`, { address: rmp.account.address });
  }
  const filing = await filingFor(ctx);
  const patient = await filing.patientRow(req.patientId);
  const sealer = await ctx.sealer();
  const resolved = await sealer.resolveRecipient(doctor);
  const decision = await decide(filing, patient.id, doctor, resolved.ok ? resolved.entry : undefined, req);

  const requestRow = (outcome: RecordRequestRow['outcome']): RecordRequestRow => ({
    id: requestId, patientId: patient.id, doctor, basis: decision.basis, documentId: req.documentId ?? null,
    reasonEnc: req.emergencyReason?.trim() ? filing.cipher.encrypt(req.emergencyReason.trim()) : null, outcome, at: new Date().toISOString(),
  });
  const record = (outcome: RecordRequestRow['outcome']): Promise<void> => filing.store.insertRequest(requestRow(outcome));
  const audit = (outcome: 'ok' | 'refused' | 'failed', details: Record<string, unknown>): Promise<unknown> => ctx.audit.record({
    actor: doctor, action: 'filing.request', outcome,
    details: { requestId, patientId: patient.id, basis: decision.basis, emergency: decision.basis === 'emergency', recordServer: rmp.account.address, ...(req.documentId ? { documentId: req.documentId } : {}), ...details },
  });

  if (decision.refusal || !resolved.ok) {
    const reason = decision.refusal ?? 'doctor-unreachable';
    await record('refused');
    await audit('refused', { reason, ...(!resolved.ok ? { recipient: resolved.reason } : {}) });
    ctx.logger.warn({ requestId, patientId: patient.id, doctor, basis: decision.basis, reason }, 'record request refused');
    throw refused(reason);
  }

  try {
    const docs = await documentsToSend(filing, patient.id, req.documentId);
    // The sends and the request's row (who received the record, on what basis: an emergency access
    // with its reason) in one transaction: nothing sent that is not recorded, nothing recorded unsent.
    const sent = await deliver(ctx, { requestId, docs, doctor, local: resolved.local, doctorKey: resolved.publicKey, rmpKey: rmp.pgpKey, envelopeFrom: rmp.account.address, recorded: requestRow('sent') });
    await audit('ok', { documents: docs.length, messages: sent, delivery: resolved.local ? 'local' : 'queued' });
    ctx.logger.info({ requestId, patientId: patient.id, doctor, basis: decision.basis, messages: sent }, 'record sent on request');
    return { requestId, patientId: patient.id, basis: decision.basis, documents: docs.length, messages: sent, delivery: resolved.local ? 'local' : 'queued' };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    await audit('failed', { code: typeof code === 'string' ? code : 'INTERNAL' });
    throw err;
  }
}

async function documentsToSend(filing: FilingService, patientId: string, documentId: string | undefined): Promise<DocumentRow[]> {
  const all = await filing.store.documentsOfPatient(patientId);
  const docs = documentId ? all.filter((d) => d.id === documentId) : all;
  if (documentId && !docs.length) {
    throw new FilingError(FilingErrorCode.DOCUMENT_NOT_FOUND, `no document ${documentId} for patient ${patientId}`, { documentId, patientId });
  }
  if (!docs.length) throw new FilingError(FilingErrorCode.DOCUMENT_NOT_FOUND, `patient ${patientId} has no document to send`, { patientId });
  return docs;
}

/**
 * Re-wraps each distinct sealed item once and delivers it (local INBOX) or queues it (remote doctor).
 * Every item is re-wrapped before anything is committed, and the commits go together with the
 * request's `sent` row (one store transaction, LocalDelivery.deliverAll, on both stores): a request
 * that fails on one item (missing blob, damaged packet, a crash) sends and records nothing, so
 * retrying it never gives the doctor a document twice. Returns the count sent.
 */
async function deliver(ctx: GatewayContext, o: {
  requestId: string; docs: DocumentRow[]; doctor: string; local: boolean;
  doctorKey: openpgp.PublicKey; rmpKey: openpgp.PrivateKey; envelopeFrom: string; recorded: RecordRequestRow;
}): Promise<number> {
  const byBlob = new Map<string, DocumentRow>();
  for (const d of o.docs) if (!byBlob.has(d.blobId)) byBlob.set(d.blobId, d);
  const prepared: Array<{ doc: DocumentRow; rewrapped: Buffer }> = [];
  for (const [blobId, doc] of byBlob) {
    const sealed = await ctx.store.mail.getBlob(blobId);
    if (!sealed) throw new FilingError(FilingErrorCode.BLOB_MISSING, `the sealed item of document ${doc.id} is missing from the store`, { documentId: doc.id, blobId });
    prepared.push({ doc, rewrapped: (await rewrapSealed(sealed, o.rmpKey, [o.doctorKey])).sealed });
  }
  await ctx.localDelivery.deliverAll(prepared.map(({ doc, rewrapped }) => {
    const deliveryKey = `record:${o.requestId}:${doc.id}`;
    if (o.local) return { sealed: rewrapped, placements: [{ owner: o.doctor, mailbox: 'INBOX', deliveryKey }] };
    const queue: NewQueueItem = {
      id: randomUUID(),
      envelopeFrom: o.envelopeFrom,
      messageId: firstValue(splitHeaderBlock(rewrapped).header, 'message-id') ?? deliveryKey,
      expiresAt: new Date(Date.now() + ctx.config.queue.maxLifetimeHours * 3600_000).toISOString(),
      ret: null, envid: null,
      recipients: [{ recipient: o.doctor, notify: null, orcpt: null }],
    };
    return { sealed: rewrapped, placements: [], queue };
  }), (tx) => tx.filing.insertRequest(o.recorded));
  return byBlob.size;
}
