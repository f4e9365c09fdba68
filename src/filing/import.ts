/**
 * Re-imports an export (folder tree or passphrase-encrypted archive) into this gateway's filing
 * store. Every document's bytes must hash to the SHA-256 written in export.xml, or it is rejected.
 * A dry run reports what would be created, matched or rejected and writes nothing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import * as openpgp from 'openpgp';
import type { MailRepo } from '../store/types.js';
import { FilingError, FilingErrorCode } from './errors.js';
import { parseExportXml, type ExportedDocument, type ExportedPatient } from './export-format.js';
import type { FilingService, MatchOutcome } from './filing-service.js';

/** What this gateway can verify of a sealed blob by itself: its routing header, opened with its filing key. */
export type RoutingVerifier = (sealed: Buffer) => Promise<{ signer: string; fingerprint: string; contentDigest: string } | undefined>;

export interface ImportOptions {
  source: string;
  passphrase?: string;
  dryRun?: boolean;
  /**
   * Re-verifies each sealed message: a document is imported as verified only when its routing
   * header opens here, its signature verifies against the directory, and signer and content digest
   * agree with export.xml. What export.xml itself claims is never taken on trust.
   */
  verify?: RoutingVerifier;
}

export interface ImportedPatientReport {
  folder: string;
  /** What happened (or would happen) to the patient; `rejected` when export.xml is unusable. */
  outcome: MatchOutcome | 'rejected';
  patientId: string | null;
  documents: { filed: number; alreadyPresent: number; rejected: Array<{ file: string; reason: string }> };
  /** Documents filed as unverified: their routing header does not open or verify on this gateway. */
  unverified?: number;
  /**
   * The treating doctor the operator had named in the export: `set` on the patient here, or `kept`
   * when the patient here already has one the operator named (this gateway's choice stands).
   */
  treatingDoctor?: 'set' | 'kept';
  reason?: string;
}

export interface ImportReport {
  dryRun: boolean;
  patients: ImportedPatientReport[];
  totals: { created: number; matched: number; reconcile: number; rejected: number; documents: number; documentsRejected: number };
}

/** A read-only view of an export tree: a folder on disk or an unzipped archive in memory. */
interface ExportTree {
  folders(): string[];
  read(rel: string): Buffer | undefined;
}

function folderTree(root: string): ExportTree {
  return {
    folders: () => fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort(),
    read: (rel) => {
      const abs = path.resolve(root, rel);
      if (!abs.startsWith(path.resolve(root) + path.sep)) return undefined; // no escaping the export folder
      return fs.existsSync(abs) && fs.statSync(abs).isFile() ? fs.readFileSync(abs) : undefined;
    },
  };
}

async function archiveTree(file: string, passphrase: string | undefined): Promise<ExportTree> {
  if (!passphrase) throw new FilingError(FilingErrorCode.PASSPHRASE_REQUIRED, `${path.basename(file)} is an encrypted export: give its --passphrase`);
  let zip: Uint8Array;
  try {
    const message = await openpgp.readMessage({ binaryMessage: fs.readFileSync(file) });
    zip = (await openpgp.decrypt({ message, passwords: [passphrase], format: 'binary' })).data as Uint8Array;
  } catch {
    throw new FilingError(FilingErrorCode.PASSPHRASE_REQUIRED, `cannot decrypt ${path.basename(file)}: wrong passphrase or damaged archive`);
  }
  const entries = unzipSync(zip);
  return {
    folders: () => [...new Set(Object.keys(entries).map((k) => k.split('/')[0]!).filter((k) => k && Object.keys(entries).some((e) => e.startsWith(k + '/'))))].sort(),
    read: (rel) => (entries[path.posix.normalize(rel)] ? Buffer.from(entries[path.posix.normalize(rel)]!) : undefined),
  };
}

export async function importPatients(filing: FilingService, mail: Pick<MailRepo, 'commit'>, o: ImportOptions): Promise<ImportReport> {
  if (!fs.existsSync(o.source)) throw new FilingError(FilingErrorCode.EXPORT_INVALID, `${o.source} does not exist`);
  const tree = fs.statSync(o.source).isDirectory() ? folderTree(o.source) : await archiveTree(o.source, o.passphrase);
  const report: ImportReport = { dryRun: !!o.dryRun, patients: [], totals: { created: 0, matched: 0, reconcile: 0, rejected: 0, documents: 0, documentsRejected: 0 } };
  for (const folder of tree.folders()) {
    const xml = tree.read(`${folder}/export.xml`);
    let exported: ExportedPatient;
    try {
      if (!xml) throw new FilingError(FilingErrorCode.EXPORT_INVALID, 'no export.xml');
      exported = parseExportXml(xml.toString('utf8'));
    } catch (err) {
      report.patients.push({ folder, outcome: 'rejected', patientId: null, documents: { filed: 0, alreadyPresent: 0, rejected: [] }, reason: (err as Error).message });
      report.totals.rejected++;
      continue;
    }
    const entry = await importOne(filing, mail, tree, folder, exported, !!o.dryRun, o.verify);
    report.patients.push(entry);
    if (entry.outcome === 'new') report.totals.created++;
    else if (entry.outcome === 'reconcile') report.totals.reconcile++;
    else report.totals.matched++;
    report.totals.documents += entry.documents.filed;
    report.totals.documentsRejected += entry.documents.rejected.length;
  }
  return report;
}

async function importOne(filing: FilingService, mail: Pick<MailRepo, 'commit'>, tree: ExportTree, folder: string, p: ExportedPatient, dryRun: boolean, verify: RoutingVerifier | undefined): Promise<ImportedPatientReport> {
  const entry: ImportedPatientReport = {
    folder, outcome: await filing.preview(p.identity), patientId: null, documents: { filed: 0, alreadyPresent: 0, rejected: [] },
  };
  // Documents of one message travel together (one sealed blob, several parts).
  const byMessage = new Map<string, Array<{ doc: ExportedDocument; bytes: Buffer }>>();
  // In date order, so summary history (supersede) is rebuilt as it was.
  for (const doc of [...p.documents].sort((a, b) => a.date.localeCompare(b.date))) {
    const bytes = tree.read(`${folder}/${doc.file}`);
    const digest = bytes && createHash('sha256').update(bytes).digest('hex');
    if (!bytes) { entry.documents.rejected.push({ file: doc.file, reason: 'file missing' }); continue; }
    if (digest !== doc.sha256) { entry.documents.rejected.push({ file: doc.file, reason: 'SHA-256 differs from export.xml' }); continue; }
    byMessage.set(doc.messageId, [...(byMessage.get(doc.messageId) ?? []), { doc, bytes }]);
  }
  let first = true;
  let choiceDone = !p.treatingDoctor || dryRun;
  /**
   * The operator's choice of treating doctor, applied as soon as the patient here is known: before
   * the rest of the documents, so that their summaries supersede each other as they did there.
   */
  const applyChoice = async (patientId: string): Promise<void> => {
    if (choiceDone) return;
    choiceDone = true;
    const here = await filing.show(patientId);
    if (here.treatingDoctorSetBy === 'operator') { entry.treatingDoctor = here.treatingDoctor === p.treatingDoctor ? 'set' : 'kept'; return; }
    await filing.setTreatingDoctor(patientId, p.treatingDoctor!);
    entry.treatingDoctor = 'set';
  };
  for (const [messageId, docs] of byMessage) {
    const rows = await filing.store.documentsOfMessage(messageId);
    const known = rows.find((r) => r.patientId)?.patientId;
    if (known) await applyChoice(known);
    // Compared by keyed hash: the part names are stored sealed (src/filing/part-names.ts).
    const fresh = docs.filter((d) => !rows.some((r) => filing.isPart(r, d.doc.part)));
    entry.documents.alreadyPresent += docs.length - fresh.length;
    if (!fresh.length) continue;
    if (dryRun) { entry.documents.filed += fresh.length; continue; }
    const head = fresh[0]!.doc;
    const blob = fresh[0]!.bytes;
    const check = verify ? await verify(blob) : undefined;
    const verified = !!check && check.contentDigest === head.contentDigest && check.signer.toLowerCase() === head.sender.toLowerCase();
    if (!verified) entry.unverified = (entry.unverified ?? 0) + fresh.length;
    const committed = await mail.commit(blob, []); // stores the sealed bytes once (no mailbox placement)
    const res = await filing.file({
      patient: p.identity, messageId, blobId: committed.blobId, date: head.date,
      sender: { address: head.sender, role: head.senderRole }, documents: fresh.map((d) => ({ part: d.doc.part, type: d.doc.type, title: d.doc.title ?? undefined, author: d.doc.author, writtenAs: d.doc.writtenAs })),
      contentDigest: head.contentDigest, verified, signerFingerprint: verified ? check.fingerprint : null,
      ...(p.id ? { preferredPatientId: p.id } : {}),
    });
    if (first) { entry.outcome = res.outcome === 'duplicate' ? 'matched' : res.outcome; first = false; }
    entry.patientId = res.patientId;
    entry.documents.filed += res.documentIds.length;
    if (res.patientId) await applyChoice(res.patientId);
  }
  return entry;
}
