/**
 * The filing store's logic: match an item's patient (INS, then exact traits, never merging on
 * doubt), file one document per meaningful part under a tab, keep summary history, and answer
 * searches through keyed prefix hashes. Patient identity is decrypted only to show it to the operator.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { RoutingHeader, Verification } from '../crypto/seal/index.js';
import { FilingCipher, ensureFilingDataKey } from './data-key.js';
import { FilingError, FilingErrorCode } from './errors.js';
import { identityHashes, MAX_PREFIX, prefixHash, searchForm, type FiledIdentity, type IdentityHashes } from './identity-hashes.js';
import type { DocumentRow, FilingRepo, PatientRow, ReceiptRow, RecordRequestRow, ReconcileRow } from '../store/types.js';
import { tabOf, TABS, type Tab } from './tabs.js';
import { titleWithoutSubjectTag } from '../message/identity/subject-tag.js';
import { authorMark, writerOf as writerOfAuthor, type DocumentAuthor } from './authors.js';
import { partHash, sealPartName } from './part-names.js';

export type MatchOutcome = 'matched' | 'new' | 'reconcile' | 'unidentified';

export interface DocumentInput {
  part: string;
  type: string;
  title?: string | undefined;
  /** Who wrote it when not the sender (src/filing/authors.ts); absent: the sender. */
  author?: DocumentAuthor | undefined;
  /** `replacement`: a summary signed by a replacing doctor (never makes him the treating doctor). */
  writtenAs?: string | undefined;
}

/** One item to file: from a routing header at ingestion, or from an export at import. */
export interface FilingItem {
  patient: FiledIdentity | null;
  messageId: string;
  blobId: string;
  date: string;
  sender: { address: string; role: string | null };
  documents: DocumentInput[];
  contentDigest: string | null;
  verified: boolean;
  signerFingerprint: string | null;
  /** Import: keep the patient's id from the exporting gateway when it is free here. */
  preferredPatientId?: string;
  /** Read receipts the sender asked for (one per record-server recipient), recorded with the documents. */
  receipts?: ReceiptRequest[];
}

/** A read receipt asked for: who gets it, for which record server, quoting which original Message-ID. */
export interface ReceiptRequest {
  recordServer: string;
  mdnTo: string;
  originalMessageId: string;
}

/** RFC 8098 Error text of an item filed without a patient (fixed: names nobody). */
export const UNIDENTIFIED_RECEIPT_ERROR = 'the item names no patient: the record server keeps it, not filed under any patient, until its operator attaches it to one';

/**
 * The receipt a filing outcome gives (RFC 8098 §3.2.6): filed under a patient — even one to be
 * confirmed by the operator (reconcile) — is `processed`; kept without a patient is `processed/error`
 * with the reason. RFC 8098 has no `failed` disposition type any more (RFC 3798 replaced it by the
 * `error` modifier and the Error field).
 */
export function receiptRows(item: Pick<FilingItem, 'messageId' | 'receipts'>, outcome: MatchOutcome, now: string): ReceiptRow[] {
  const unidentified = outcome === 'unidentified';
  return (item.receipts ?? []).map((r) => ({
    messageId: item.messageId, recordServer: r.recordServer, mdnTo: r.mdnTo, originalMessageId: r.originalMessageId,
    disposition: unidentified ? 'processed/error' : 'processed', error: unidentified ? UNIDENTIFIED_RECEIPT_ERROR : null,
    createdAt: now, sentAt: null,
  }));
}

export interface IngestResult {
  outcome: MatchOutcome | 'duplicate';
  patientId: string | null;
  /** Ids of the documents filed now (empty for a duplicate). */
  documentIds: string[];
  reconcileId?: string;
  /** Fixed reason code of a reconciliation. */
  reason?: string;
}

export interface DocumentView {
  id: string;
  messageId: string;
  part: string;
  type: string;
  tab: Tab;
  date: string;
  sender: string;
  senderRole: string | null;
  title: string | null;
  blobId: string;
  verified: boolean;
  /** The author: the sender, a verified lab/XDM author, or "transmitted, author not verified". */
  author: DocumentAuthor;
  /** The author/transmitter mark as a sentence (console, API, `patients show`, export). */
  authorMark: string;
  /** `replacement`: a summary its writer signed as a replacement. */
  writtenAs: string | null;
  supersededBy: string | null;
}

export interface PatientSummary {
  id: string;
  status: PatientRow['status'];
  identity: FiledIdentity;
}

export interface PatientView extends PatientSummary {
  accessCode: string;
  treatingDoctor: string | null;
  /** Who set it: the operator (`patients set-treating`), or the first summary filed (not a replacement's). */
  treatingDoctorSetBy: 'operator' | 'first-summary' | null;
  tabs: Record<Tab, DocumentView[]>;
}

export interface ReconcileView extends ReconcileRow {
  patient: FiledIdentity | null;
  candidate: FiledIdentity | null;
}

type Match =
  | { kind: 'matched'; patient: PatientRow }
  | { kind: 'new' }
  | { kind: 'reconcile'; candidate: PatientRow; reason: string };

/** Documents of a routing header: its `documents` list when present, else the message as one document. */
export function documentsOfRouting(routing: Pick<RoutingHeader, 'document'> & { documents?: Array<{ part: string; type: string; title?: string | undefined; writtenAs?: string | undefined }> | undefined }): DocumentInput[] {
  const listed = routing.documents?.filter((d) => d.part);
  // A gateway before issue 30 kept the subject's patient tag in the title: it is dropped here too.
  const title = (t: string | undefined): string | undefined => (t ? titleWithoutSubjectTag(t) || undefined : undefined);
  if (listed && listed.length) {
    return listed.map((d) => ({ part: d.part, type: d.type, title: title(d.title ?? routing.document.title), ...(d.writtenAs === 'replacement' ? { writtenAs: d.writtenAs } : {}) }));
  }
  return [{ part: 'body', type: routing.document.type, title: title(routing.document.title) }];
}

function newAccessCode(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(12);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
}

/** Where sealed items are read from: the mail store's blobs. */
export type SealedItems = { getBlob(blobId: string): Promise<Buffer | undefined> };

/** A filed document as the store keeps it (its title encrypted). */
export type FiledDocument = DocumentRow;

/** An emergency access as the operator and treating doctor review it. */
export type EmergencyAccess = Omit<RecordRequestRow, 'reasonEnc'> & { reason: string | null };

export class FilingService {
  private chain: Promise<unknown> = Promise.resolve();

  /**
   * `sealedItems`: where the sealed message a document was filed from is read (the mail store's
   * blobs), so that readers such as the console get it from the filing service, not the store.
   */
  constructor(private readonly repo: FilingRepo, readonly cipher: FilingCipher, private readonly sealedItems?: SealedItems) {}

  static async open(repo: FilingRepo, dataDir: string, sealedItems?: SealedItems): Promise<FilingService> {
    return new FilingService(repo, new FilingCipher(await ensureFilingDataKey(dataDir)), sealedItems);
  }

  /** One filing decision at a time in this process: matching then inserting must not interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Files a delivered item from its verified routing header; idempotent per (messageId, part). */
  ingest(routing: RoutingHeader, verification: Verification, blobId: string, messageId: string, receipts: ReceiptRequest[] = [], authors?: Map<string, DocumentAuthor>): Promise<IngestResult> {
    return this.file(this.itemOf(routing, verification, blobId, messageId, receipts, authors));
  }

  /** What `ingest` files: the item of a verified routing header. */
  itemOf(routing: RoutingHeader, verification: Verification, blobId: string, messageId: string, receipts: ReceiptRequest[] = [], authors?: Map<string, DocumentAuthor>): FilingItem {
    const documents = documentsOfRouting(routing).map((d) => {
      const author = authors?.get(d.part);
      return author && author.status !== 'sender' ? { ...d, author } : d;
    });
    return {
      receipts,
      patient: routing.patient ? {
        familyName: routing.patient.familyName, givenName: routing.patient.givenName, birthDate: routing.patient.birthDate,
        ...(routing.patient.sex ? { sex: routing.patient.sex } : {}), ...(routing.patient.ins ? { ins: routing.patient.ins } : {}),
      } : null,
      messageId, blobId,
      date: trustedDocumentDate(routing.document.date, routing.sealedAt),
      sender: { address: routing.sender.address.toLowerCase(), role: routing.sender.role ?? null },
      documents,
      contentDigest: routing.contentDigest,
      verified: verification.valid,
      signerFingerprint: verification.fingerprint,
    };
  }

  /**
   * The decision (is this message filed already? which patient? create it?) and its writes run
   * under the store's identity lock for the item's hashes (FilingRepo.exclusiveForIdentity), so that
   * two nodes filing the first documents of one new patient at once make one patient: the second
   * decision waits for the first and then finds the patient it created. The process-local queue
   * (`exclusive`) stays: it keeps a node's decisions from holding several pool connections at once.
   */
  file(item: FilingItem): Promise<IngestResult> {
    return this.exclusive(() => this.fileIn(this.repo, item));
  }

  /**
   * The decision on `repo`: its every read and write in the one transaction of
   * FilingRepo.exclusiveForIdentity. With the `tx.filing` of a Store.write, the filing rows commit
   * in the caller's transaction (a delivery and its filing: both or neither).
   */
  fileIn(repo: FilingRepo, item: FilingItem): Promise<IngestResult> {
    const hashes = item.patient ? identityHashes(this.cipher, item.patient) : undefined;
    const lockKeys = hashes ? [hashes.insHash, hashes.traitsHash, hashes.familyBirthHash, hashes.givenBirthHash].filter((h): h is string => !!h) : [];
    return repo.exclusiveForIdentity(lockKeys, (locked) => new FilingService(locked, this.cipher, this.sealedItems).decide(item, hashes));
  }

  private async decide(item: FilingItem, hashes: IdentityHashes | undefined): Promise<IngestResult> {
    const existing = await this.repo.documentsOfMessage(item.messageId);
    const known = new Set(existing.map((d) => d.partHash));
    const missing = item.documents.filter((d) => !known.has(partHash(this.cipher, item.messageId, d.part)));
    if (existing.length && !missing.length) {
      return { outcome: 'duplicate', patientId: existing[0]!.patientId, documentIds: [] };
    }
    const now = new Date().toISOString();
    let patientId: string | null;
    let outcome: MatchOutcome;
    let reconcile: ReconcileRow | undefined;
    if (existing.length) {
      // Part of this message was filed before (crash between two inserts): same patient.
      patientId = existing[0]!.patientId;
      outcome = 'matched';
    } else if (!item.patient || !hashes) {
      patientId = null;
      outcome = 'unidentified';
      reconcile = { id: randomUUID(), patientId: null, candidateId: null, reason: 'no-patient', messageId: item.messageId, status: 'open', createdAt: now, resolvedAt: null };
    } else {
      const match = await this.match(hashes);
      if (match.kind === 'matched') {
        patientId = match.patient.id;
        outcome = 'matched';
        await this.completeIdentity(match.patient, item.patient, hashes);
      } else {
        const status = match.kind === 'new' ? 'active' : 'reconcile';
        patientId = await this.createPatient(item.patient, hashes, status, now, item.preferredPatientId);
        outcome = match.kind;
        if (match.kind === 'reconcile') {
          reconcile = { id: randomUUID(), patientId, candidateId: match.candidate.id, reason: match.reason, messageId: item.messageId, status: 'open', createdAt: now, resolvedAt: null };
        }
      }
    }
    const rows: Omit<DocumentRow, 'seq'>[] = missing.map((d) => ({
      id: randomUUID(), patientId, messageId: item.messageId, ...sealPartName(this.cipher, item.messageId, d.part), type: d.type, tab: tabOf(d.type), date: item.date,
      senderAddress: item.sender.address, senderRole: item.sender.role,
      titleEnc: d.title ? this.cipher.encrypt(d.title) : null, blobId: item.blobId, contentDigest: item.contentDigest,
      verified: item.verified, signerFingerprint: item.signerFingerprint, supersededBy: null, filedAt: now,
      // Encrypted: an unverified author is whoever a forwarded message's From shows (a patient too).
      authorEnc: d.author && d.author.status !== 'sender' ? this.cipher.encrypt(JSON.stringify(d.author)) : null,
      writtenAs: d.type === 'summary' && d.writtenAs === 'replacement' ? 'replacement' : null,
    }));
    // The receipts owed go in with the documents (one transaction): filed ⇔ a receipt is owed.
    const inserted = await this.repo.insertDocuments(rows, receiptRows(item, outcome, now));
    if (reconcile) await this.repo.insertReconcile(reconcile);
    if (patientId) await this.applySupersede(patientId, rows.filter((r) => inserted.includes(r.id)));
    return {
      outcome, patientId, documentIds: inserted,
      ...(reconcile ? { reconcileId: reconcile.id, reason: reconcile.reason } : {}),
    };
  }

  /**
   * INS first (same INS with other traits is doubt, not a match); else exact normalised traits
   * (a different INS on the same traits is doubt); else same name and birth date with another given
   * name, or same given name and birth date with another name, is doubt; anything else is new —
   * in particular the same names with another birth date are another patient.
   */
  private async match(h: IdentityHashes): Promise<Match> {
    if (h.insHash) {
      const byIns = await this.resolveMerged(await this.repo.findPatients('insHash', h.insHash, true));
      const exact = byIns.find((p) => p.traitsHash === h.traitsHash);
      if (exact) return { kind: 'matched', patient: exact };
      if (byIns[0]) return { kind: 'reconcile', candidate: byIns[0], reason: 'ins-traits-differ' };
    }
    const byTraits = await this.resolveMerged(await this.repo.findPatients('traitsHash', h.traitsHash, true));
    if (byTraits.length) {
      const sameOrNoIns = byTraits.find((p) => !h.insHash || !p.insHash || p.insHash === h.insHash);
      if (sameOrNoIns) return { kind: 'matched', patient: sameOrNoIns };
      return { kind: 'reconcile', candidate: byTraits[0]!, reason: 'ins-differs' };
    }
    const family = await this.repo.findPatients('familyBirthHash', h.familyBirthHash);
    if (family[0]) return { kind: 'reconcile', candidate: family[0], reason: 'given-name-differs' };
    const given = await this.repo.findPatients('givenBirthHash', h.givenBirthHash);
    if (given[0]) return { kind: 'reconcile', candidate: given[0], reason: 'family-name-differs' };
    return { kind: 'new' };
  }

  /** A merged patient stands for the one it was merged into (so its identity variant keeps matching). */
  private async resolveMerged(rows: PatientRow[]): Promise<PatientRow[]> {
    const out = new Map<string, PatientRow>();
    for (let p of rows) {
      for (let hops = 0; p.status === 'merged' && p.mergedInto && hops < 10; hops++) {
        const next = await this.repo.getPatient(p.mergedInto);
        if (!next) break;
        p = next;
      }
      if (p.status !== 'merged') out.set(p.id, p);
    }
    return [...out.values()];
  }

  /** An item with an INS matched by traits gives the patient its INS (and sex) when it had none. */
  private async completeIdentity(p: PatientRow, incoming: FiledIdentity, h: IdentityHashes): Promise<void> {
    if (p.insHash || !h.insHash || p.traitsHash !== h.traitsHash) return;
    const known = this.cipher.decryptJson<FiledIdentity>(p.identityEnc);
    const merged: FiledIdentity = { ...known, ...(incoming.ins ? { ins: incoming.ins } : {}), ...(known.sex ?? incoming.sex ? { sex: known.sex ?? incoming.sex } : {}) };
    await this.repo.updatePatient(p.id, { insHash: h.insHash, identityEnc: this.cipher.encryptJson(merged), updatedAt: new Date().toISOString() });
  }

  private async createPatient(identity: FiledIdentity, h: IdentityHashes, status: 'active' | 'reconcile', now: string, preferredId?: string): Promise<string> {
    const free = preferredId && /^P[0-9a-f]{16}$/.test(preferredId) && !(await this.repo.getPatient(preferredId));
    const id = free ? preferredId : `P${randomBytes(8).toString('hex')}`;
    await this.repo.insertPatient({
      id, status, mergedInto: null, identityEnc: this.cipher.encryptJson(identity), insHash: h.insHash, traitsHash: h.traitsHash,
      familyBirthHash: h.familyBirthHash, givenBirthHash: h.givenBirthHash, accessCodeEnc: this.cipher.encrypt(newAccessCode()),
      createdAt: now, updatedAt: now,
    }, h.prefixHashes);
    return id;
  }

  /**
   * The treating doctor: the one the operator set (`medgate patients set-treating`), else the writer
   * (verified author, else sender) of the first summary filed that its writer did not sign as a
   * replacement. A replacement's summary never makes him the treating doctor.
   */
  private treatingAmong(p: PatientRow | undefined, summaries: Array<Omit<DocumentRow, 'seq'> & { seq?: number }>): string | undefined {
    if (p?.treatingDoctor) return p.treatingDoctor;
    return writerOfRow(this.cipher, firstFiled(summaries.filter((d) => d.tab === 'summary' && d.writtenAs !== 'replacement') as DocumentRow[]));
  }

  /**
   * A summary from the treating doctor (or from anyone but a replacement while there is none)
   * supersedes that doctor's earlier summaries; an older one arriving late is filed as already
   * superseded. Another doctor's summary — a replacement's — is kept beside, superseding nothing.
   * Nothing is deleted: `superseded_by` keeps the history.
   */
  private async applySupersede(patientId: string, filed: Omit<DocumentRow, 'seq'>[]): Promise<void> {
    const summary = filed.find((d) => d.tab === 'summary');
    if (!summary) return;
    const all = await this.repo.documentsOfPatient(patientId);
    const earlier = all.filter((d) => d.tab === 'summary' && !filed.some((f) => f.id === d.id));
    const current = earlier.filter((d) => !d.supersededBy);
    const treating = this.treatingAmong(await this.repo.getPatient(patientId), earlier);
    const writer = writerOfRow(this.cipher, summary);
    if (treating ? treating !== writer : summary.writtenAs === 'replacement') return;
    const mine = current.filter((d) => writerOfRow(this.cipher, d) === writer);
    const newer = mine.filter((d) => d.date > summary.date);
    if (newer.length) await this.repo.setSupersededBy([summary.id], latest(newer)!.id);
    else if (mine.length) await this.repo.setSupersededBy(mine.map((d) => d.id), summary.id);
  }

  async treatingDoctor(patientId: string): Promise<string | null> {
    const docs = await this.repo.documentsOfPatient(patientId);
    return this.treatingAmong(await this.repo.getPatient(patientId), docs) ?? null;
  }

  /**
   * The operator names the patient's treating doctor (an active person of the directory), or with
   * null returns to the rule of the first summary. Returns the previous treating doctor.
   */
  setTreatingDoctor(patientId: string, doctor: string | null): Promise<{ patientId: string; previous: string | null }> {
    return this.exclusive(async () => {
      const p = await this.patientRow(patientId);
      const previous = await this.treatingDoctor(p.id);
      await this.repo.updatePatient(p.id, { treatingDoctor: doctor ? doctor.toLowerCase() : null, updatedAt: new Date().toISOString() });
      return { patientId: p.id, previous };
    });
  }

  /** Patients whose family name starts with `text` (accent- and case-insensitive). */
  async search(text: string): Promise<PatientSummary[]> {
    const form = searchForm(text).slice(0, MAX_PREFIX);
    if (!form) return [];
    const rows = await this.repo.searchByPrefix(prefixHash(this.cipher, form));
    return rows.map((p) => this.summary(p));
  }

  async listPatients(): Promise<PatientSummary[]> {
    return (await this.repo.listPatients()).map((p) => this.summary(p));
  }

  private summary(p: PatientRow): PatientSummary {
    return { id: p.id, status: p.status, identity: this.cipher.decryptJson<FiledIdentity>(p.identityEnc) };
  }

  async patientRow(id: string): Promise<PatientRow> {
    let p = await this.repo.getPatient(id);
    if (p?.status === 'merged' && p.mergedInto) p = await this.repo.getPatient(p.mergedInto);
    if (!p) throw new FilingError(FilingErrorCode.PATIENT_NOT_FOUND, `no patient ${id} in the filing store`, { id });
    return p;
  }

  async show(id: string): Promise<PatientView> {
    const p = await this.patientRow(id);
    const docs = await this.repo.documentsOfPatient(p.id);
    const tabs = Object.fromEntries(TABS.map((t) => [t, [] as DocumentView[]])) as Record<Tab, DocumentView[]>;
    for (const d of docs) tabs[tabOf(d.type)].push(this.documentView(d));
    const treatingDoctor = this.treatingAmong(p, docs) ?? null;
    const treatingDoctorSetBy = p.treatingDoctor ? 'operator' : treatingDoctor ? 'first-summary' : null;
    return { ...this.summary(p), accessCode: this.cipher.decrypt(p.accessCodeEnc), treatingDoctor, treatingDoctorSetBy, tabs };
  }

  documentView(d: DocumentRow): DocumentView {
    return {
      id: d.id, messageId: d.messageId, part: this.partOf(d), type: d.type, tab: tabOf(d.type), date: d.date, sender: d.senderAddress,
      senderRole: d.senderRole, title: d.titleEnc ? this.cipher.decrypt(d.titleEnc) : null, blobId: d.blobId, verified: d.verified,
      author: authorOfRow(this.cipher, d), authorMark: authorMark(authorOfRow(this.cipher, d), d.senderAddress), writtenAs: d.writtenAs ?? null, supersededBy: d.supersededBy,
    };
  }

  /** A filed document's part name (`body`, or the attachment's file name), decrypted. */
  partOf(d: Pick<DocumentRow, 'partEnc'>): string {
    return this.cipher.decrypt(d.partEnc);
  }

  /** Whether `d` is the document of part `part` of its message (compared by keyed hash: nothing decrypted). */
  isPart(d: Pick<DocumentRow, 'messageId' | 'partHash'>, part: string): boolean {
    return d.partHash === partHash(this.cipher, d.messageId, part);
  }

  async document(id: string): Promise<DocumentRow> {
    const d = await this.repo.getDocument(id);
    if (!d) throw new FilingError(FilingErrorCode.DOCUMENT_NOT_FOUND, `no document ${id} in the filing store`, { id });
    return d;
  }

  /** A document by id, or undefined: for ids a client sent, which are looked up, never trusted. */
  findDocument(id: string): Promise<DocumentRow | undefined> {
    return this.repo.getDocument(id);
  }

  /** The sealed message a document was filed from (still encrypted), or undefined when it is gone. */
  async sealedItemOf(doc: Pick<DocumentRow, 'blobId'>): Promise<Buffer | undefined> {
    if (!this.sealedItems) throw new Error('this filing service was opened without access to the sealed items');
    return this.sealedItems.getBlob(doc.blobId);
  }

  /** A patient's identity (the surviving record's after a merge), or undefined when there is no such patient. */
  async identityOf(patientId: string): Promise<FiledIdentity | undefined> {
    const p = await this.patientRow(patientId).catch(() => undefined);
    return p ? this.cipher.decryptJson<FiledIdentity>(p.identityEnc) : undefined;
  }

  /** Records an emergency (break-glass) access to a record, seen online; the reason is kept encrypted. Returns the request id. */
  async recordEmergencyAccess(o: { patientId: string; doctor: string; reason: string }): Promise<string> {
    const id = randomUUID();
    await this.repo.insertRequest({
      id, patientId: o.patientId, doctor: o.doctor, basis: 'emergency', documentId: null,
      reasonEnc: this.cipher.encrypt(o.reason), outcome: 'viewed', at: new Date().toISOString(),
    });
    return id;
  }

  /** Every emergency access, oldest first, its reason decrypted. */
  async emergencyAccesses(): Promise<EmergencyAccess[]> {
    return (await this.repo.listRequests('emergency')).map(({ reasonEnc, ...r }) => ({ ...r, reason: reasonEnc ? this.cipher.decrypt(reasonEnc) : null }));
  }

  /** Documents filed after `since` (filing order), for record servers polling the HTTP API. */
  async itemsSince(since: number, limit = 100): Promise<Array<DocumentView & { seq: number; patientId: string | null }>> {
    return (await this.repo.documentsSince(since, limit)).map((d) => ({ ...this.documentView(d), seq: d.seq, patientId: d.patientId }));
  }

  /** Constant-time check of a patient's access code (case and separators ignored). */
  async checkAccessCode(patientId: string, code: string): Promise<boolean> {
    const p = await this.patientRow(patientId);
    const norm = (s: string): Buffer => Buffer.from(s.toUpperCase().replace(/[^A-Z0-9]/g, ''));
    const a = norm(this.cipher.decrypt(p.accessCodeEnc));
    const b = norm(code);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async listReconcile(all = false): Promise<ReconcileView[]> {
    const rows = await this.repo.listReconcile(all ? undefined : 'open');
    const identityOf = async (id: string | null): Promise<FiledIdentity | null> => {
      const p = id ? await this.repo.getPatient(id) : undefined;
      return p ? this.cipher.decryptJson<FiledIdentity>(p.identityEnc) : null;
    };
    return Promise.all(rows.map(async (r) => ({ ...r, patient: await identityOf(r.patientId), candidate: await identityOf(r.candidateId) })));
  }

  private async openReconcile(id: string): Promise<ReconcileRow> {
    const r = await this.repo.getReconcile(id);
    if (!r) throw new FilingError(FilingErrorCode.RECONCILE_NOT_FOUND, `no reconciliation entry ${id}`, { id });
    if (r.status !== 'open') throw new FilingError(FilingErrorCode.RECONCILE_CLOSED, `reconciliation entry ${id} is already ${r.status}`, { id });
    return r;
  }

  /**
   * The operator confirms it is the same patient: the documents move to `into` (default: the
   * candidate) and the uncertain patient is kept as merged, so its identity variant matches later.
   */
  merge(id: string, into?: string): Promise<{ patientId: string; moved: number }> {
    return this.exclusive(async () => {
      const r = await this.openReconcile(id);
      const target = await this.patientRow(into ?? r.candidateId ?? '');
      let moved: number;
      if (r.patientId) {
        if (r.patientId === target.id) throw new FilingError(FilingErrorCode.RECONCILE_CLOSED, 'cannot merge a patient into itself');
        moved = await this.repo.moveDocuments({ patientId: r.patientId }, target.id);
        await this.repo.updatePatient(r.patientId, { status: 'merged', mergedInto: target.id, updatedAt: new Date().toISOString() });
      } else {
        moved = await this.repo.moveDocuments({ messageId: r.messageId ?? '' }, target.id);
      }
      await this.repo.resolveReconcile(id, 'merged', new Date().toISOString());
      return { patientId: target.id, moved };
    });
  }

  /** The operator confirms they are two patients: the uncertain one becomes an ordinary patient. */
  separate(id: string): Promise<{ patientId: string | null }> {
    return this.exclusive(async () => {
      const r = await this.openReconcile(id);
      if (!r.patientId) throw new FilingError(FilingErrorCode.RECONCILE_CLOSED, 'an item without patient identity can only be merged into a patient');
      await this.repo.updatePatient(r.patientId, { status: 'active', updatedAt: new Date().toISOString() });
      await this.repo.resolveReconcile(id, 'separated', new Date().toISOString());
      return { patientId: r.patientId };
    });
  }

  /** Dry-run matching for import: what filing this identity would do, without writing. */
  async preview(identity: FiledIdentity | null): Promise<MatchOutcome> {
    if (!identity) return 'unidentified';
    const m = await this.match(identityHashes(this.cipher, identity));
    return m.kind;
  }

  get store(): FilingRepo {
    return this.repo;
  }
}

/** The document's author as filed (null column: the sender), decrypted. */
export function authorOfRow(cipher: FilingCipher, d: Pick<DocumentRow, 'authorEnc'>): DocumentAuthor {
  if (!d.authorEnc) return { status: 'sender' };
  const json = cipher.decrypt(d.authorEnc);
  try {
    const a = JSON.parse(json) as DocumentAuthor;
    return a && (a.status === 'verified' || a.status === 'unverified') ? a : { status: 'unverified' };
  } catch {
    return { status: 'unverified' };
  }
}

/** Who a filed document is filed under (src/filing/authors.ts writerOf). */
function writerOfRow(cipher: FilingCipher, d: Omit<DocumentRow, 'seq'> | undefined): string | undefined {
  return d ? writerOfAuthor(authorOfRow(cipher, d), d.senderAddress) : undefined;
}

/** The first document filed (filing order): a summary sent later, or dated earlier, does not displace it. */
function firstFiled(docs: DocumentRow[]): DocumentRow | undefined {
  return [...docs].sort((a, b) => a.seq - b.seq)[0];
}

function latest(docs: DocumentRow[]): DocumentRow | undefined {
  return [...docs].sort((a, b) => (a.date === b.date ? a.seq - b.seq : a.date < b.date ? -1 : 1)).at(-1);
}

/**
 * The document date comes from the sender's Date header. It orders summaries (and so who is the
 * treating doctor), so a date that is not a real date or lies after the sealing is replaced by the
 * sealing date: nobody can jump ahead of the record by post-dating a message.
 */
export function trustedDocumentDate(date: string, sealedAt: string): string {
  const sealed = sealedAt.slice(0, 10);
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(date) && !Number.isNaN(Date.parse(date + 'T00:00:00Z'));
  return ok && date <= sealed ? date : sealed;
}
