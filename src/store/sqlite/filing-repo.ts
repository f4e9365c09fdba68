import type Database from 'better-sqlite3';
import type {
  DocumentRow, FilingRepo, PatientRow, ReceiptRow, RecordRequestRow, ReconcileRow, ReconcileStatus, RequestBasis,
} from '../types.js';
import {
  documentFrom, patientFrom, PATIENT_COLUMNS, receiptFrom, reconcileFrom, requestFrom,
  type DocumentDb, type PatientDb, type ReceiptDb, type ReconcileDb, type RequestDb,
} from '../rows/filing-rows.js';

export class SqliteFilingRepo implements FilingRepo {
  constructor(
    private readonly db: Database.Database,
    /** SqliteStore's write transaction (BEGIN IMMEDIATE, queued per database file in this process). */
    private readonly exclusive: <T>(work: () => Promise<T>) => Promise<T>,
  ) {}

  /**
   * The whole database is the lock: one write transaction, which every process on the file waits
   * for; `work` is given this repository (the same connection). Inside a Store.write (`tx.filing`),
   * `exclusive` is that transaction already.
   */
  exclusiveForIdentity<T>(_hashes: string[], work: (repo: FilingRepo) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this));
  }

  async insertPatient(p: PatientRow, prefixHashes: string[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare(`INSERT INTO filing_patients (id, status, merged_into, identity_enc, ins_hash, traits_hash, family_birth_hash,
        given_birth_hash, access_code_enc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(p.id, p.status, p.mergedInto, p.identityEnc, p.insHash, p.traitsHash, p.familyBirthHash, p.givenBirthHash, p.accessCodeEnc, p.createdAt, p.updatedAt);
      this.writePrefixes(p.id, prefixHashes);
    }).immediate();
  }

  private writePrefixes(patientId: string, prefixHashes: string[]): void {
    this.db.prepare('DELETE FROM filing_prefixes WHERE patient_id = ?').run(patientId);
    const ins = this.db.prepare('INSERT INTO filing_prefixes (patient_id, prefix_hash) VALUES (?, ?) ON CONFLICT DO NOTHING');
    for (const h of prefixHashes) ins.run(patientId, h);
  }

  async updatePatient(id: string, changes: Partial<Omit<PatientRow, 'id' | 'createdAt'>>, prefixHashes?: string[]): Promise<void> {
    this.db.transaction(() => {
      const keys = Object.keys(changes) as Array<keyof typeof PATIENT_COLUMNS>;
      if (keys.length) {
        const sets = keys.map((k) => `${PATIENT_COLUMNS[k]} = ?`).join(', ');
        this.db.prepare(`UPDATE filing_patients SET ${sets} WHERE id = ?`).run(...keys.map((k) => changes[k] ?? null), id);
      }
      if (prefixHashes) this.writePrefixes(id, prefixHashes);
    }).immediate();
  }

  async getPatient(id: string): Promise<PatientRow | undefined> {
    const r = this.db.prepare('SELECT * FROM filing_patients WHERE id = ?').get(id) as PatientDb | undefined;
    return r && patientFrom(r);
  }

  async findPatients(column: 'insHash' | 'traitsHash' | 'familyBirthHash' | 'givenBirthHash', hash: string, includeMerged = false): Promise<PatientRow[]> {
    const rows = this.db.prepare(`SELECT * FROM filing_patients WHERE ${PATIENT_COLUMNS[column]} = ?${includeMerged ? '' : " AND status <> 'merged'"}
      ORDER BY created_at, id`).all(hash) as PatientDb[];
    return rows.map(patientFrom);
  }

  async searchByPrefix(prefixHash: string): Promise<PatientRow[]> {
    const rows = this.db.prepare(`SELECT p.* FROM filing_patients p JOIN filing_prefixes x ON x.patient_id = p.id
      WHERE x.prefix_hash = ? AND p.status <> 'merged' ORDER BY p.created_at, p.id`).all(prefixHash) as PatientDb[];
    return rows.map(patientFrom);
  }

  async listPatients(): Promise<PatientRow[]> {
    return (this.db.prepare(`SELECT * FROM filing_patients WHERE status <> 'merged' ORDER BY created_at, id`).all() as PatientDb[]).map(patientFrom);
  }

  async insertDocuments(docs: Omit<DocumentRow, 'seq'>[], receipts: ReceiptRow[] = []): Promise<string[]> {
    return this.db.transaction(() => {
      for (const r of receipts) this.insertReceiptSync(r);
      const ins = this.db.prepare(`INSERT INTO filing_documents (id, patient_id, message_id, part_hash, part_enc, type, tab, doc_date, sender_address, sender_role,
        title_enc, blob_id, content_digest, verified, signer_fingerprint, superseded_by, filed_at, author_enc, written_as)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, part_hash) DO NOTHING`);
      const inserted: string[] = [];
      for (const d of docs) {
        const r = ins.run(d.id, d.patientId, d.messageId, d.partHash, d.partEnc, d.type, d.tab, d.date, d.senderAddress, d.senderRole, d.titleEnc,
          d.blobId, d.contentDigest, d.verified ? 1 : 0, d.signerFingerprint, d.supersededBy, d.filedAt, d.authorEnc ?? null, d.writtenAs ?? null);
        if (r.changes) inserted.push(d.id);
      }
      return inserted;
    }).immediate();
  }

  async getDocument(id: string): Promise<DocumentRow | undefined> {
    const r = this.db.prepare('SELECT * FROM filing_documents WHERE id = ?').get(id) as DocumentDb | undefined;
    return r && documentFrom(r);
  }

  async documentsOfMessage(messageId: string): Promise<DocumentRow[]> {
    return (this.db.prepare('SELECT * FROM filing_documents WHERE message_id = ? ORDER BY seq').all(messageId) as DocumentDb[]).map(documentFrom);
  }

  async documentsOfPatient(patientId: string): Promise<DocumentRow[]> {
    return (this.db.prepare('SELECT * FROM filing_documents WHERE patient_id = ? ORDER BY doc_date, seq').all(patientId) as DocumentDb[]).map(documentFrom);
  }

  async documentsSince(seq: number, limit: number): Promise<DocumentRow[]> {
    return (this.db.prepare('SELECT * FROM filing_documents WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as DocumentDb[]).map(documentFrom);
  }

  async setSupersededBy(ids: string[], by: string): Promise<void> {
    const up = this.db.prepare('UPDATE filing_documents SET superseded_by = ? WHERE id = ?');
    this.db.transaction(() => { for (const id of ids) up.run(by, id); }).immediate();
  }

  async moveDocuments(from: { patientId: string } | { messageId: string }, to: string): Promise<number> {
    const r = 'patientId' in from
      ? this.db.prepare('UPDATE filing_documents SET patient_id = ? WHERE patient_id = ?').run(to, from.patientId)
      : this.db.prepare('UPDATE filing_documents SET patient_id = ? WHERE message_id = ? AND patient_id IS NULL').run(to, from.messageId);
    return r.changes;
  }

  async insertReconcile(r: ReconcileRow): Promise<void> {
    this.db.prepare(`INSERT INTO filing_reconcile (id, patient_id, candidate_id, reason, message_id, status, created_at, resolved_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(r.id, r.patientId, r.candidateId, r.reason, r.messageId, r.status, r.createdAt, r.resolvedAt);
  }

  async getReconcile(id: string): Promise<ReconcileRow | undefined> {
    const r = this.db.prepare('SELECT * FROM filing_reconcile WHERE id = ?').get(id) as ReconcileDb | undefined;
    return r && reconcileFrom(r);
  }

  async listReconcile(status?: ReconcileStatus): Promise<ReconcileRow[]> {
    const rows = status
      ? this.db.prepare('SELECT * FROM filing_reconcile WHERE status = ? ORDER BY created_at, id').all(status)
      : this.db.prepare('SELECT * FROM filing_reconcile ORDER BY created_at, id').all();
    return (rows as ReconcileDb[]).map(reconcileFrom);
  }

  async resolveReconcile(id: string, status: 'merged' | 'separated', at: string): Promise<void> {
    this.db.prepare('UPDATE filing_reconcile SET status = ?, resolved_at = ? WHERE id = ?').run(status, at, id);
  }

  private insertReceiptSync(r: ReceiptRow): boolean {
    return this.db.prepare(`INSERT INTO filing_receipts (message_id, record_server, mdn_to, original_message_id, disposition, error, created_at, sent_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, record_server) DO NOTHING`)
      .run(r.messageId, r.recordServer, r.mdnTo, r.originalMessageId, r.disposition, r.error, r.createdAt, r.sentAt).changes > 0;
  }

  async insertReceipt(r: ReceiptRow): Promise<boolean> {
    return this.insertReceiptSync(r);
  }

  async pendingReceipts(limit = 100): Promise<ReceiptRow[]> {
    return (this.db.prepare('SELECT * FROM filing_receipts WHERE sent_at IS NULL ORDER BY created_at, message_id LIMIT ?').all(limit) as ReceiptDb[]).map(receiptFrom);
  }

  async getReceipt(messageId: string, recordServer: string): Promise<ReceiptRow | undefined> {
    const r = this.db.prepare('SELECT * FROM filing_receipts WHERE message_id = ? AND record_server = ?').get(messageId, recordServer) as ReceiptDb | undefined;
    return r && receiptFrom(r);
  }

  async markReceiptSent(messageId: string, recordServer: string, at: string): Promise<void> {
    this.db.prepare('UPDATE filing_receipts SET sent_at = ? WHERE message_id = ? AND record_server = ? AND sent_at IS NULL').run(at, messageId, recordServer);
  }

  async insertRequest(r: RecordRequestRow): Promise<void> {
    this.db.prepare(`INSERT INTO filing_requests (id, patient_id, doctor, basis, document_id, reason_enc, outcome, at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(r.id, r.patientId, r.doctor, r.basis, r.documentId, r.reasonEnc, r.outcome, r.at);
  }

  async listRequests(basis?: RequestBasis): Promise<RecordRequestRow[]> {
    const rows = basis
      ? this.db.prepare('SELECT * FROM filing_requests WHERE basis = ? ORDER BY at, id').all(basis)
      : this.db.prepare('SELECT * FROM filing_requests ORDER BY at, id').all();
    return (rows as RequestDb[]).map(requestFrom);
  }
}
