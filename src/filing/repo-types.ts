/**
 * Storage interface of the filing store. Rows hold patient identity encrypted (`*Enc`, AES-GCM under
 * the filing data key) and keyed hashes (`*Hash`, HMAC) for lookups: no name, birth date or INS in
 * clear. Same portable table shapes for SQLite and a future PostgreSQL store.
 */

export type PatientStatus = 'active' | 'reconcile' | 'merged';

export interface PatientRow {
  id: string;
  status: PatientStatus;
  mergedInto: string | null;
  /** Encrypted JSON of the patient identity (names, birth date, sex, INS). */
  identityEnc: string;
  insHash: string | null;
  /** HMAC of `NOM|PRENOM|YYYY-MM-DD`. */
  traitsHash: string;
  /** HMAC of `NOM|YYYY-MM-DD` and `PRENOM|YYYY-MM-DD`: finds near matches for reconciliation. */
  familyBirthHash: string;
  givenBirthHash: string;
  /** Encrypted access code a doctor presents to ask for the record. */
  accessCodeEnc: string;
  createdAt: string;
  updatedAt: string;
}

export interface DocumentRow {
  id: string;
  /** Null while the item has no patient (no identity in the routing header): it waits in reconciliation. */
  patientId: string | null;
  /** Outer Message-ID of the sealed message; with `part`, the idempotence key. */
  messageId: string;
  part: string;
  type: string;
  tab: string;
  date: string;
  senderAddress: string;
  senderRole: string | null;
  /** Titles come from subjects, which may name the patient: encrypted. */
  titleEnc: string | null;
  blobId: string;
  contentDigest: string | null;
  verified: boolean;
  signerFingerprint: string | null;
  supersededBy: string | null;
  filedAt: string;
  /** Filing order (monotonic), for `items?since=`. */
  seq: number;
}

export type ReconcileStatus = 'open' | 'merged' | 'separated';

export interface ReconcileRow {
  id: string;
  /** The patient (status `reconcile`) created for the uncertain item, or null for an unidentified item. */
  patientId: string | null;
  /** The existing patient it may be. */
  candidateId: string | null;
  /** Fixed code: `ins-traits-differ`, `ins-differs`, `given-name-differs`, `family-name-differs`, `no-patient`. */
  reason: string;
  /** For `no-patient`: the message waiting for a patient. */
  messageId: string | null;
  status: ReconcileStatus;
  createdAt: string;
  resolvedAt: string | null;
}

export type RequestBasis = 'treating' | 'access-code' | 'emergency';

export interface RecordRequestRow {
  id: string;
  patientId: string;
  doctor: string;
  basis: RequestBasis;
  documentId: string | null;
  /** Emergency justification (may be medical): encrypted. */
  reasonEnc: string | null;
  outcome: 'sent' | 'refused';
  at: string;
}

export interface FilingRepo {
  insertPatient(p: PatientRow, prefixHashes: string[]): Promise<void>;
  updatePatient(id: string, changes: Partial<Omit<PatientRow, 'id' | 'createdAt'>>, prefixHashes?: string[]): Promise<void>;
  getPatient(id: string): Promise<PatientRow | undefined>;
  /** Patients with this hash in the named column (merged ones only with `includeMerged`). */
  findPatients(column: 'insHash' | 'traitsHash' | 'familyBirthHash' | 'givenBirthHash', hash: string, includeMerged?: boolean): Promise<PatientRow[]>;
  /** Patients (not merged) whose family name has this prefix hash. */
  searchByPrefix(prefixHash: string): Promise<PatientRow[]>;
  listPatients(): Promise<PatientRow[]>;
  /** Inserts documents; those whose (messageId, part) already exists are skipped. Returns the inserted ids. */
  insertDocuments(docs: Omit<DocumentRow, 'seq'>[]): Promise<string[]>;
  getDocument(id: string): Promise<DocumentRow | undefined>;
  documentsOfMessage(messageId: string): Promise<DocumentRow[]>;
  documentsOfPatient(patientId: string): Promise<DocumentRow[]>;
  documentsSince(seq: number, limit: number): Promise<DocumentRow[]>;
  setSupersededBy(ids: string[], by: string): Promise<void>;
  /** Moves every document of `from` (or of the unidentified message) to `to`. */
  moveDocuments(from: { patientId: string } | { messageId: string }, to: string): Promise<number>;
  insertReconcile(r: ReconcileRow): Promise<void>;
  getReconcile(id: string): Promise<ReconcileRow | undefined>;
  listReconcile(status?: ReconcileStatus): Promise<ReconcileRow[]>;
  resolveReconcile(id: string, status: 'merged' | 'separated', at: string): Promise<void>;
  insertRequest(r: RecordRequestRow): Promise<void>;
  listRequests(basis?: RequestBasis): Promise<RecordRequestRow[]>;
}
