/**
 * What the console reads through the filing service: who may see a patient's record, finding a
 * patient of another doctor by identity, and one document decrypted in memory for one response.
 */
import fs from 'node:fs';
import type { GatewayContext } from '../context.js';
import { isMedgateError, MedgateError } from '../errors.js';
import { open } from '../crypto/seal/index.js';
import { searchForm, type FiledDocument, type FilingService, type PatientSummary } from '../filing/index.js';
import type { UnlockedAccount } from '../accounts/account-service.js';
import { attachmentLabel, readXdm } from '../message/identity/xdm.js';
import { extractZipEntry, listZipEntries } from '../message/identity/safe-unzip.js';
import { FORWARDED_TYPE, forwardedView } from '../message/forwarded.js';
import { parseForExtraction } from '../message/parse.js';
import { ConsolePageError } from './errors.js';
import type { ConsoleSession, Grant } from './sessions.js';

export type Access = { ok: true; basis: 'treating' | Grant['basis']; patientId: string } | { ok: false };

/** Patient ids and document ids as the filing store makes them: anything else is not looked up. */
export const PATIENT_ID = /^P[0-9a-f]{16}$/;
export const DOCUMENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * May this session see this patient: the treating doctor, or an access granted in the session.
 * Unknown, merged-away and forbidden patients all answer `{ ok: false }` alike.
 */
export async function accessTo(filing: FilingService, session: ConsoleSession, patientId: string): Promise<Access> {
  if (!PATIENT_ID.test(patientId)) return { ok: false };
  let id: string;
  try {
    id = (await filing.patientRow(patientId)).id;
  } catch {
    return { ok: false };
  }
  if ((await filing.treatingDoctor(id)) === session.doctor) return { ok: true, basis: 'treating', patientId: id };
  const grant = session.grants.get(id) ?? session.grants.get(patientId);
  return grant ? { ok: true, basis: grant.basis, patientId: id } : { ok: false };
}

/** Patients of whom this doctor is the treating doctor, among those whose family name starts with `letters`. */
export async function searchOwnPatients(filing: FilingService, doctor: string, letters: string): Promise<PatientSummary[]> {
  const found = await filing.search(letters);
  const own: PatientSummary[] = [];
  for (const p of found) if (p.status !== 'merged' && (await filing.treatingDoctor(p.id)) === doctor) own.push(p);
  return own.sort((a, b) => (a.identity.familyName + a.identity.givenName).localeCompare(b.identity.familyName + b.identity.givenName, 'fr'));
}

/** The one patient with exactly these traits (names folded like the search), or undefined. */
export async function findByIdentity(filing: FilingService, t: { familyName: string; givenName: string; birthDate: string }): Promise<PatientSummary | undefined> {
  const family = searchForm(t.familyName);
  const given = searchForm(t.givenName);
  if (!family || !given || !/^\d{4}-\d{2}-\d{2}$/.test(t.birthDate)) return undefined;
  const matches = (await filing.search(family)).filter((p) => p.status !== 'merged'
    && searchForm(p.identity.familyName) === family && searchForm(p.identity.givenName) === given && p.identity.birthDate === t.birthDate);
  return matches.length === 1 ? matches[0] : undefined;
}

/** Opens the configured record server's key once, from the password file (never logged). */
export class RecordServerKey {
  private unlocked: Promise<UnlockedAccount> | undefined;
  readonly address: string | undefined;
  private readonly password: string | undefined;

  /** `passwordFile`: another file than `console.recordServerPasswordFile` (the portable export's option). */
  constructor(private readonly ctx: GatewayContext, address: string | undefined, passwordFile?: string) {
    const file = passwordFile ?? ctx.config.console.recordServerPasswordFile;
    this.address = address;
    try {
      this.password = file ? fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '') : undefined;
    } catch (err) {
      throw new MedgateError('CONFIG_INVALID', `console.recordServerPasswordFile ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }

  get available(): boolean {
    return !!this.address && !!this.password;
  }

  credentials(): { address: string; password: string } | undefined {
    return this.address && this.password ? { address: this.address, password: this.password } : undefined;
  }

  key(): Promise<UnlockedAccount> {
    const creds = this.credentials();
    if (!creds) return Promise.reject(new Error('no record-server password configured'));
    this.unlocked ??= this.ctx.accounts.unlock(creds.address, creds.password, { via: 'console' }).catch((err: unknown) => {
      this.unlocked = undefined;
      throw err;
    });
    return this.unlocked;
  }
}

/** The local record-server account the console reads with: the configured one, else the only one. */
export async function recordServerAddress(ctx: GatewayContext): Promise<string | undefined> {
  if (ctx.config.console.recordServer) return ctx.config.console.recordServer.trim().toLowerCase();
  const rmps = (await ctx.accounts.list()).filter((a) => a.kind === 'rmp' && !a.disabled);
  return rmps.length === 1 ? rmps[0]!.address : undefined;
}

export interface OpenedDocument {
  content: Buffer;
  contentType: string;
  filename: string;
  /** How the page shows it. */
  kind: 'text' | 'pdf' | 'image' | 'download';
}

const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function kindOf(contentType: string, filename: string): OpenedDocument['kind'] {
  const ct = contentType.toLowerCase().split(';')[0]!.trim();
  if (ct === 'application/pdf' || /\.pdf$/i.test(filename)) return 'pdf';
  if (INLINE_IMAGES.has(ct)) return 'image';
  if (ct === 'text/plain' || /\.(txt|hpr|hprim)$/i.test(filename)) return 'text';
  return 'download';
}

/**
 * Decrypts the sealed item of a document with the record server's key and returns that document's
 * part, in memory only (nothing is written to disk; the caller sends it and drops it).
 */
export async function openDocument(ctx: GatewayContext, filing: FilingService, rmp: RecordServerKey, doc: FiledDocument): Promise<OpenedDocument | undefined> {
  const sealed = await filing.sealedItemOf(doc);
  if (!sealed) return undefined;
  const { pgpKey } = await rmp.key();
  const sealer = await ctx.sealer();
  const opened = await open({ sealed, decryptionKey: pgpKey, resolveSigner: sealer.resolveSigner });
  // A forwarded message is one document (as at sealing): its bytes, not its parts mixed with the covering note.
  const view = await forwardedView(opened.raw);
  const input = await parseForExtraction(view?.raw ?? opened.raw);
  const part = filing.partOf(doc);
  if (part === 'body') {
    return { content: Buffer.from(input.textBody ?? '', 'utf8'), contentType: 'text/plain; charset=utf-8', filename: 'document.txt', kind: 'text' };
  }
  for (const [index, att] of input.attachments.entries()) {
    if (attachmentLabel(att, index) !== part || att.omitted) continue;
    const filename = att.filename ?? `piece-${index + 1}`;
    const contentType = att.contentType === FORWARDED_TYPE ? 'message/rfc822' : att.contentType;
    return { content: att.content, contentType, filename, kind: kindOf(contentType, filename) };
  }
  const xdm = readXdm(input);
  const entry = xdm?.entries.find((e) => e.id === part);
  if (xdm && entry?.uri) {
    const archive = input.attachments.find((a, i) => attachmentLabel(a, i) === xdm.archive);
    if (archive) {
      const wanted = `IHE_XDM/${entry.subset}/${entry.uri}`.toLowerCase();
      const zipEntry = listZipEntries(archive.content).find((z) => z.name.toLowerCase() === wanted || z.name.toLowerCase().endsWith('/' + wanted));
      if (zipEntry) {
        const content = extractZipEntry(archive.content, zipEntry);
        const ct = entry.mimeType ?? 'application/octet-stream';
        return { content, contentType: ct, filename: entry.uri, kind: kindOf(ct, entry.uri) };
      }
    }
  }
  return undefined;
}

/**
 * openDocument for a page: a failure (sealed item missing, key, signature, MIME) is logged with the
 * message id and the decision — never the patient — and becomes a page saying what the doctor can
 * do, not a generic error.
 */
export async function openDocumentOrRefuse(ctx: GatewayContext, filing: FilingService, rmp: RecordServerKey, doc: FiledDocument): Promise<OpenedDocument> {
  let opened: OpenedDocument | undefined;
  try {
    opened = await openDocument(ctx, filing, rmp, doc);
  } catch (err) {
    const code = isMedgateError(err) ? err.code : 'UNEXPECTED';
    ctx.logger.error({ messageId: doc.messageId, documentId: doc.id, code, decision: 'unreadable' }, 'console: document could not be opened');
    throw new ConsolePageError(502, 'Document illisible', `Ce document n’a pas pu être déchiffré ou lu par la passerelle (${code}). Demandez-en l’envoi par messagerie sécurisée, ou signalez-le à l’opérateur avec l’heure de votre essai.`);
  }
  if (!opened) {
    ctx.logger.error({ messageId: doc.messageId, documentId: doc.id, code: 'SEALED_ITEM_MISSING', decision: 'unreadable' }, 'console: document could not be opened');
    throw new ConsolePageError(404, 'Document illisible', 'Le contenu de ce document n’a pas été retrouvé dans le message qui l’a apporté. Signalez-le à l’opérateur avec l’heure de votre essai.');
  }
  return opened;
}

/** Text of a document: UTF-8 when it is valid UTF-8, else ISO-8859-1 (older HPRIM files). */
export function decodeText(content: Buffer): string {
  const utf8 = content.toString('utf8');
  return utf8.includes('\uFFFD') ? content.toString('latin1') : utf8;
}

export interface LabResult {
  label: string;
  value: string;
  unit: string;
  low: string;
  high: string;
  flag: string;
}

/** The `RES|…` lines of an HPRIM `****LAB****` block, for a table under the text. */
export function hprimResults(text: string): LabResult[] {
  const out: LabResult[] = [];
  let inLab = false;
  for (const line of text.split(/\r?\n/)) {
    if (/^\*{4}LAB\*{4}/.test(line)) { inLab = true; continue; }
    if (/^\*{4}FIN/.test(line)) { inLab = false; continue; }
    if (!inLab || !line.startsWith('RES|')) continue;
    const f = line.split('|');
    out.push({ label: f[1] ?? '', value: f[4] ?? '', unit: f[5] ?? '', low: f[6] ?? '', high: f[7] ?? '', flag: f[8] ?? '' });
  }
  return out;
}
