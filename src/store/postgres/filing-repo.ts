import type {
  DocumentRow, FilingRepo, PatientRow, ReceiptRow, RecordRequestRow, ReconcileRow, ReconcileStatus, RequestBasis,
} from '../types.js';
import {
  documentFrom, patientFrom, PATIENT_COLUMNS, receiptFrom, reconcileFrom, requestFrom,
  type DocumentDb, type PatientDb, type ReceiptDb, type ReconcileDb, type RequestDb,
} from '../rows/filing-rows.js';
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { translatePgError, type PgDatabase } from './pg-database.js';
import { retryConflicts } from './retry.js';
import type { Runner } from './runner.js';

/**
 * Transaction-level advisory lock taken before documents are inserted: `seq` (an identity) is
 * then handed out in commit order, so `documentsSince(seq)` never skips a document whose lower seq
 * committed after a higher one (two nodes filing at once).
 */
const FILING_SEQ_LOCK = 0x6d676673; // 'mgfs'
const RECEIPT_INSERT = `INSERT INTO filing_receipts (message_id, record_server, mdn_to, original_message_id, disposition, error, created_at, sent_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
  ON CONFLICT (message_id, record_server) DO NOTHING`;
const receiptParams = (rs: ReceiptRow[]): unknown[] => [
  rs.map((r) => r.messageId), rs.map((r) => r.recordServer), rs.map((r) => r.mdnTo), rs.map((r) => r.originalMessageId),
  rs.map((r) => r.disposition), rs.map((r) => r.error), rs.map((r) => r.createdAt), rs.map((r) => r.sentAt),
];

/** The advisory lock key of an identity hash (hex HMAC): its first 64 bits, as a signed bigint. */
export function identityLockKey(hash: string): string {
  const hex = /^[0-9a-f]{16}/i.test(hash) ? hash.slice(0, 16) : createHash('sha256').update(hash).digest('hex').slice(0, 16);
  return BigInt.asIntN(64, BigInt(`0x${hex}`)).toString();
}

/** What the repository runs its statements on: the pool (PgDatabase) or one open transaction (inTransaction). */
export type FilingDb = Pick<PgDatabase, 'one' | 'rows' | 'query' | 'tx'> & {
  /** A transaction open already: a deadlock aborts all of it, so only its owner may run it again. */
  joined?: true;
};

/**
 * The statements of a FilingRepo on `c`, a connection with a transaction open: `tx` joins it (one
 * transaction, whatever the repository does), and so do the identity locks it takes.
 */
export function inTransaction(c: pg.PoolClient): FilingDb {
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> => {
    try {
      return await c.query<R>(sql, params);
    } catch (err) {
      throw translatePgError(err);
    }
  };
  return {
    query,
    rows: async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> => (await query<R>(sql, params)).rows,
    one: async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R | undefined> => (await query<R>(sql, params)).rows[0],
    tx: (work) => work(c),
    joined: true,
  };
}

export class PgFilingRepo implements FilingRepo {
  constructor(private readonly db: FilingDb) {}

  /**
   * One transaction: first a transaction-level advisory lock per identity hash (sorted: no deadlock
   * between two decisions), then `work`, every statement of it on the same connection (the repository
   * `work` is given). The locks go with the transaction, at COMMIT or ROLLBACK, or when its
   * connection dies: no lock outlives the decision, and none is held for a decision not made. Called
   * on a repository of an open transaction (Store.write's `tx.filing`), it joins that transaction:
   * the decision then commits with the delivery it belongs to. A deadlock runs it again (retry.ts):
   * on its own, here; joined, the owner of the transaction (PgStore.write) runs all of it again.
   */
  exclusiveForIdentity<T>(hashes: string[], work: (repo: FilingRepo) => Promise<T>): Promise<T> {
    const keys = [...new Set(hashes.map(identityLockKey))].sort();
    const decide = (): Promise<T> => this.db.tx(async (c) => {
      for (const key of keys) await c.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
      return work(new PgFilingRepo(inTransaction(c)));
    });
    return this.db.joined ? decide() : retryConflicts(decide);
  }

  /** Nothing to close: no connection of its own (PgStore.close). */
  async close(): Promise<void> {}

  private async writePrefixes(c: Runner, patientId: string, prefixHashes: string[]): Promise<void> {
    await c.query('DELETE FROM filing_prefixes WHERE patient_id = $1', [patientId]);
    if (prefixHashes.length) {
      await c.query('INSERT INTO filing_prefixes (patient_id, prefix_hash) SELECT $1, h FROM unnest($2::text[]) h ON CONFLICT DO NOTHING', [patientId, [...new Set(prefixHashes)]]);
    }
  }

  async insertPatient(p: PatientRow, prefixHashes: string[]): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query(`INSERT INTO filing_patients (id, status, merged_into, identity_enc, ins_hash, traits_hash, family_birth_hash,
        given_birth_hash, access_code_enc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [p.id, p.status, p.mergedInto, p.identityEnc, p.insHash, p.traitsHash, p.familyBirthHash, p.givenBirthHash, p.accessCodeEnc, p.createdAt, p.updatedAt]);
      await this.writePrefixes(c, p.id, prefixHashes);
    });
  }

  async updatePatient(id: string, changes: Partial<Omit<PatientRow, 'id' | 'createdAt'>>, prefixHashes?: string[]): Promise<void> {
    await this.db.tx(async (c) => {
      const keys = Object.keys(changes) as Array<keyof typeof PATIENT_COLUMNS>;
      if (keys.length) {
        const sets = keys.map((k, i) => `${PATIENT_COLUMNS[k]} = $${i + 1}`).join(', ');
        await c.query(`UPDATE filing_patients SET ${sets} WHERE id = $${keys.length + 1}`, [...keys.map((k) => changes[k] ?? null), id]);
      }
      if (prefixHashes) await this.writePrefixes(c, id, prefixHashes);
    });
  }

  async getPatient(id: string): Promise<PatientRow | undefined> {
    const r = await this.db.one<PatientDb>('SELECT * FROM filing_patients WHERE id = $1', [id]);
    return r && patientFrom(r);
  }

  async findPatients(column: 'insHash' | 'traitsHash' | 'familyBirthHash' | 'givenBirthHash', hash: string, includeMerged = false): Promise<PatientRow[]> {
    return (await this.db.rows<PatientDb>(`SELECT * FROM filing_patients WHERE ${PATIENT_COLUMNS[column]} = $1${includeMerged ? '' : " AND status <> 'merged'"}
      ORDER BY created_at, id COLLATE "C"`, [hash])).map(patientFrom);
  }

  async searchByPrefix(prefixHash: string): Promise<PatientRow[]> {
    return (await this.db.rows<PatientDb>(`SELECT p.* FROM filing_patients p JOIN filing_prefixes x ON x.patient_id = p.id
      WHERE x.prefix_hash = $1 AND p.status <> 'merged' ORDER BY p.created_at, p.id COLLATE "C"`, [prefixHash])).map(patientFrom);
  }

  async listPatients(): Promise<PatientRow[]> {
    return (await this.db.rows<PatientDb>(`SELECT * FROM filing_patients WHERE status <> 'merged' ORDER BY created_at, id COLLATE "C"`)).map(patientFrom);
  }

  async insertDocuments(docs: Omit<DocumentRow, 'seq'>[], receipts: ReceiptRow[] = []): Promise<string[]> {
    return this.db.tx(async (c) => {
      // Commit order = seq order (see FILING_SEQ_LOCK); the blobs are share-locked so that an expunge
      // collecting them at the same moment sees these documents and keeps them.
      await c.query(`SELECT pg_advisory_xact_lock($1), (SELECT COUNT(*) FROM (SELECT 1 FROM blobs WHERE id = ANY($2::text[]) FOR KEY SHARE) b)`,
        [FILING_SEQ_LOCK, [...new Set(docs.map((d) => d.blobId))]]);
      if (receipts.length) await c.query(RECEIPT_INSERT, receiptParams(receipts));
      if (!docs.length) return [];
      const col = <K extends keyof Omit<DocumentRow, 'seq'>>(k: K): unknown[] => docs.map((d) => d[k]);
      const res = await c.query<{ id: string }>(`INSERT INTO filing_documents (id, patient_id, message_id, part_hash, part_enc, type, tab, doc_date, sender_address,
          sender_role, title_enc, blob_id, content_digest, verified, signer_fingerprint, superseded_by, filed_at, author_enc, written_as)
        SELECT id, patient_id, message_id, part_hash, part_enc, type, tab, doc_date, sender_address, sender_role, title_enc, blob_id, content_digest,
          verified, signer_fingerprint, superseded_by, filed_at, author_enc, written_as
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
          $10::text[], $11::text[], $12::text[], $13::text[], $14::boolean[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[]) WITH ORDINALITY AS d(id, patient_id, message_id, part_hash, part_enc, type, tab, doc_date,
          sender_address, sender_role, title_enc, blob_id, content_digest, verified, signer_fingerprint, superseded_by, filed_at, author_enc, written_as, ord)
        ORDER BY ord
        ON CONFLICT (message_id, part_hash) DO NOTHING RETURNING id`,
      [col('id'), col('patientId'), col('messageId'), col('partHash'), col('partEnc'), col('type'), col('tab'), col('date'), col('senderAddress'), col('senderRole'),
        col('titleEnc'), col('blobId'), col('contentDigest'), col('verified'), col('signerFingerprint'), col('supersededBy'), col('filedAt'), docs.map((d) => d.authorEnc ?? null), docs.map((d) => d.writtenAs ?? null)]);
      const inserted = new Set(res.rows.map((r) => r.id));
      return docs.filter((d) => inserted.has(d.id)).map((d) => d.id);
    });
  }

  async getDocument(id: string): Promise<DocumentRow | undefined> {
    const r = await this.db.one<DocumentDb>('SELECT * FROM filing_documents WHERE id = $1', [id]);
    return r && documentFrom(r);
  }

  async documentsOfMessage(messageId: string): Promise<DocumentRow[]> {
    return (await this.db.rows<DocumentDb>('SELECT * FROM filing_documents WHERE message_id = $1 ORDER BY seq', [messageId])).map(documentFrom);
  }

  async documentsOfPatient(patientId: string): Promise<DocumentRow[]> {
    return (await this.db.rows<DocumentDb>('SELECT * FROM filing_documents WHERE patient_id = $1 ORDER BY doc_date COLLATE "C", seq', [patientId])).map(documentFrom);
  }

  async documentsSince(seq: number, limit: number): Promise<DocumentRow[]> {
    return (await this.db.rows<DocumentDb>('SELECT * FROM filing_documents WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, limit])).map(documentFrom);
  }

  async setSupersededBy(ids: string[], by: string): Promise<void> {
    if (ids.length) await this.db.query('UPDATE filing_documents SET superseded_by = $1 WHERE id = ANY($2::text[])', [by, ids]);
  }

  async moveDocuments(from: { patientId: string } | { messageId: string }, to: string): Promise<number> {
    const r = 'patientId' in from
      ? await this.db.query('UPDATE filing_documents SET patient_id = $1 WHERE patient_id = $2', [to, from.patientId])
      : await this.db.query('UPDATE filing_documents SET patient_id = $1 WHERE message_id = $2 AND patient_id IS NULL', [to, from.messageId]);
    return r.rowCount ?? 0;
  }

  async insertReconcile(r: ReconcileRow): Promise<void> {
    await this.db.query(`INSERT INTO filing_reconcile (id, patient_id, candidate_id, reason, message_id, status, created_at, resolved_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [r.id, r.patientId, r.candidateId, r.reason, r.messageId, r.status, r.createdAt, r.resolvedAt]);
  }

  async getReconcile(id: string): Promise<ReconcileRow | undefined> {
    const r = await this.db.one<ReconcileDb>('SELECT * FROM filing_reconcile WHERE id = $1', [id]);
    return r && reconcileFrom(r);
  }

  async listReconcile(status?: ReconcileStatus): Promise<ReconcileRow[]> {
    const rows = status
      ? await this.db.rows<ReconcileDb>('SELECT * FROM filing_reconcile WHERE status = $1 ORDER BY created_at, id COLLATE "C"', [status])
      : await this.db.rows<ReconcileDb>('SELECT * FROM filing_reconcile ORDER BY created_at, id COLLATE "C"');
    return rows.map(reconcileFrom);
  }

  async resolveReconcile(id: string, status: 'merged' | 'separated', at: string): Promise<void> {
    await this.db.query('UPDATE filing_reconcile SET status = $1, resolved_at = $2 WHERE id = $3', [status, at, id]);
  }

  async insertReceipt(r: ReceiptRow): Promise<boolean> {
    return ((await this.db.query(RECEIPT_INSERT, receiptParams([r]))).rowCount ?? 0) > 0;
  }

  async pendingReceipts(limit = 100): Promise<ReceiptRow[]> {
    return (await this.db.rows<ReceiptDb>('SELECT * FROM filing_receipts WHERE sent_at IS NULL ORDER BY created_at, message_id COLLATE "C" LIMIT $1', [limit])).map(receiptFrom);
  }

  async getReceipt(messageId: string, recordServer: string): Promise<ReceiptRow | undefined> {
    const r = await this.db.one<ReceiptDb>('SELECT * FROM filing_receipts WHERE message_id = $1 AND record_server = $2', [messageId, recordServer]);
    return r && receiptFrom(r);
  }

  async markReceiptSent(messageId: string, recordServer: string, at: string): Promise<void> {
    await this.db.query('UPDATE filing_receipts SET sent_at = $1 WHERE message_id = $2 AND record_server = $3 AND sent_at IS NULL', [at, messageId, recordServer]);
  }

  async insertRequest(r: RecordRequestRow): Promise<void> {
    await this.db.query(`INSERT INTO filing_requests (id, patient_id, doctor, basis, document_id, reason_enc, outcome, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [r.id, r.patientId, r.doctor, r.basis, r.documentId, r.reasonEnc, r.outcome, r.at]);
  }

  async listRequests(basis?: RequestBasis): Promise<RecordRequestRow[]> {
    const rows = basis
      ? await this.db.rows<RequestDb>('SELECT * FROM filing_requests WHERE basis = $1 ORDER BY at, id COLLATE "C"', [basis])
      : await this.db.rows<RequestDb>('SELECT * FROM filing_requests ORDER BY at, id COLLATE "C"');
    return rows.map(requestFrom);
  }
}
