import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import * as openpgp from 'openpgp';
import type { MailRepo } from '../store/types.js';
import { FilingError, FilingErrorCode } from './errors.js';
import { ARCHIVE_NAME, exportFolderName, exportXml, type ExportedDocument } from './export-format.js';
import type { DocumentView, FilingService } from './filing-service.js';

/** `AAAA-MM-JJ_type_title.ext`: ASCII, no path separators, the original's extension. */
export function originalName(d: Pick<DocumentView, 'date' | 'type' | 'title' | 'part'>, filename: string): string {
  const ascii = (s: string): string => s.normalize('NFD').replace(/\p{M}+/gu, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  const ext = /\.([A-Za-z0-9]{1,8})$/.exec(filename)?.[1]?.toLowerCase() ?? 'bin';
  const title = ascii(d.title ?? '') || ascii(d.part.replace(/\.[A-Za-z0-9]{1,8}$/, '')) || 'document';
  return `${d.date}_${d.type}_${title}.${ext}`;
}

function uniqueName(taken: Set<string>, name: string): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n++) candidate = name.replace(/(\.[a-z0-9]+)$/, `-${n}$1`);
  taken.add(candidate);
  return candidate;
}

export interface ExportOptions {
  /** Patient ids; all patients when omitted. */
  ids?: string[];
  out: string;
  passphrase?: string;
  /** Called after each patient (for a progress bar). */
  progress?: (done: number, total: number) => void;
  /**
   * Portable export: each document's original (the PDF, the HPRIM text, the summary) as its author
   * sent it, decrypted by this callback (with the record server's key, audited by the caller), beside
   * the sealed `.eml`. Written only inside the passphrase-protected archive, unless `clearFiles`.
   */
  originals?: (doc: DocumentView, patientId: string) => Promise<{ content: Buffer; filename: string; contentType: string } | undefined>;
  /** The operator asked for decrypted documents as clear files on disk (`--write-clear-files`). */
  clearFiles?: boolean;
}

export interface ExportResult {
  patients: number;
  documents: number;
  /** Folder names, or the archive file when encrypted. */
  written: string[];
}

/**
 * A clear export is written into a hidden folder beside `out` and moved into place only once
 * complete: a failure midway, or the operator's Ctrl-C (SIGINT, SIGTERM, SIGHUP), removes it, so no
 * partial tree of patient documents — decrypted ones with --write-clear-files — is left on disk.
 */
class StagingDir {
  readonly dir: string;
  private readonly onSignal: (signal: NodeJS.Signals) => void;
  private static readonly SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

  constructor(private readonly out: string) {
    const abs = path.resolve(out);
    fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o700 });
    this.dir = fs.mkdtempSync(path.join(path.dirname(abs), `.${path.basename(abs)}.partial-`));
    fs.chmodSync(this.dir, 0o700);
    this.onSignal = (signal) => {
      this.discard();
      process.stderr.write(`medgate: export interrupted (${signal}); the partial export was removed\n`);
      process.exit(signal === 'SIGINT' ? 130 : signal === 'SIGHUP' ? 129 : 143);
    };
    for (const s of StagingDir.SIGNALS) process.once(s, this.onSignal);
  }

  private release(): void {
    for (const s of StagingDir.SIGNALS) process.removeListener(s, this.onSignal);
  }

  discard(): void {
    this.release();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Moves each written folder into `out` (a patient folder of an earlier export is replaced). */
  commit(): void {
    fs.mkdirSync(this.out, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(this.dir)) {
      const target = path.join(this.out, name);
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(path.join(this.dir, name), target);
    }
    this.discard();
  }
}

/**
 * Writes the export. Without a passphrase the tree is staged on disk and moved into place when
 * complete (StagingDir); with one, nothing clear is written: the tree is zipped in memory and
 * encrypted (memory scales with the export size). A portable export whose originals cannot all be
 * decrypted fails (FILING_EXPORT_INCOMPLETE, naming the document ids) and writes nothing.
 */
export async function exportPatients(filing: FilingService, mail: Pick<MailRepo, 'getBlob'>, o: ExportOptions): Promise<ExportResult> {
  if (o.originals && !o.passphrase && !o.clearFiles) {
    throw new FilingError(FilingErrorCode.EXPORT_INVALID, 'a portable export holds the decrypted documents: give --passphrase (one encrypted archive), or --write-clear-files to write them in clear on disk');
  }
  const staging = o.passphrase ? undefined : new StagingDir(o.out);
  try {
    const result = await writeExport(filing, mail, o, staging?.dir);
    staging?.commit();
    return result;
  } catch (err) {
    staging?.discard();
    throw err;
  }
}

async function writeExport(filing: FilingService, mail: Pick<MailRepo, 'getBlob'>, o: ExportOptions, stagingDir: string | undefined): Promise<ExportResult> {
  const ids = o.ids ?? (await filing.listPatients()).map((p) => p.id);
  const files = new Map<string, Uint8Array>();
  const put = (rel: string, data: Uint8Array): void => {
    if (!stagingDir) files.set(rel, data);
    else {
      const abs = path.join(stagingDir, rel);
      fs.mkdirSync(path.dirname(abs), { recursive: true, mode: 0o700 });
      fs.writeFileSync(abs, data, { mode: 0o600 });
    }
  };
  const exportedAt = new Date().toISOString();
  let documents = 0;
  const written: string[] = [];
  const missing: string[] = [];
  for (const [i, id] of ids.entries()) {
    const view = await filing.show(id);
    const folder = exportFolderName(view);
    const docs: ExportedDocument[] = [];
    const taken = new Set<string>();
    for (const d of Object.values(view.tabs).flat()) {
      const blob = await mail.getBlob(d.blobId);
      if (!blob) throw new FilingError(FilingErrorCode.BLOB_MISSING, `the sealed message of document ${d.id} is missing from the store`, { id: d.id });
      const file = `${d.type}/${d.id}.eml`;
      put(`${folder}/${file}`, blob);
      let original: Awaited<ReturnType<NonNullable<ExportOptions['originals']>>>;
      try {
        original = o.originals ? await o.originals(d, view.id) : undefined;
        if (o.originals && !original) missing.push(d.id);
      } catch {
        missing.push(d.id);
        original = undefined;
      }
      let originalFile: string | undefined;
      if (original) {
        originalFile = uniqueName(taken, `documents/${originalName(d, original.filename)}`);
        put(`${folder}/${originalFile}`, original.content);
      }
      docs.push({
        id: d.id, messageId: d.messageId, part: d.part, type: d.type, date: d.date, sender: d.sender, senderRole: d.senderRole, title: d.title,
        sha256: createHash('sha256').update(blob).digest('hex'), contentDigest: null, verified: d.verified, signerFingerprint: null,
        supersededBy: d.supersededBy, file, ...(d.author.status !== 'sender' ? { author: d.author } : {}),
        ...(d.writtenAs === 'replacement' ? { writtenAs: 'replacement' as const } : {}),
        ...(original && originalFile ? { original: { file: originalFile, contentType: original.contentType, sha256: createHash('sha256').update(original.content).digest('hex') } } : {}),
      });
    }
    const rows = await filing.store.documentsOfPatient(view.id);
    for (const doc of docs) {
      const row = rows.find((r) => r.id === doc.id);
      doc.contentDigest = row?.contentDigest ?? null;
      doc.signerFingerprint = row?.signerFingerprint ?? null;
    }
    put(`${folder}/export.xml`, Buffer.from(exportXml({ id: view.id, identity: view.identity, ...(view.treatingDoctorSetBy === 'operator' && view.treatingDoctor ? { treatingDoctor: view.treatingDoctor } : {}), documents: docs }, exportedAt), 'utf8'));
    documents += docs.length;
    written.push(folder);
    o.progress?.(i + 1, ids.length);
  }
  if (missing.length) {
    // Document ids only: never a name, a title or content.
    throw new FilingError(FilingErrorCode.EXPORT_INCOMPLETE,
      `the original of ${missing.length} document(s) could not be decrypted (${missing.slice(0, 20).join(', ')}${missing.length > 20 ? `, and ${missing.length - 20} more` : ''}); nothing was written. Check the record server's key (--record-server, --record-server-password-file), see 'medgate audit list' (patients.export.decrypt), or export without --portable`,
      { documentIds: missing });
  }
  if (!stagingDir) {
    const zip = zipSync(Object.fromEntries(files), { level: 0 });
    const encrypted = await openpgp.encrypt({
      message: await openpgp.createMessage({ binary: zip }), passwords: [o.passphrase!], format: 'binary',
    });
    fs.mkdirSync(o.out, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(o.out, ARCHIVE_NAME), encrypted as Uint8Array, { mode: 0o600 });
    return { patients: ids.length, documents, written: [ARCHIVE_NAME] };
  }
  return { patients: ids.length, documents, written };
}
