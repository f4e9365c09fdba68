/**
 * The export format: per patient a folder named after the patient's identifier, holding
 * `export.xml` (UTF-8: the patient and every document's metadata) and one subfolder per document
 * type with the documents as sealed `.eml` (the bytes exactly as stored). With a passphrase the
 * whole tree is one zip inside an OpenPGP password-encrypted message (`medgate-export.zip.pgp`).
 */
import { authorMark, type DocumentAuthor } from './authors.js';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { FilingError, FilingErrorCode } from './errors.js';
import type { FiledIdentity } from './identity-hashes.js';

export const ARCHIVE_NAME = 'medgate-export.zip.pgp';

export interface ExportedDocument {
  id: string;
  messageId: string;
  part: string;
  type: string;
  date: string;
  sender: string;
  senderRole: string | null;
  title: string | null;
  /** SHA-256 (hex) of the sealed bytes: also the store's blob id. */
  sha256: string;
  contentDigest: string | null;
  verified: boolean;
  signerFingerprint: string | null;
  /** Who wrote it when not the sender (src/filing/authors.ts); absent: the sender. */
  author?: DocumentAuthor | undefined;
  supersededBy: string | null;
  /** `replacement`: a summary its writer signed as a replacement (never makes him the treating doctor). */
  writtenAs?: 'replacement' | undefined;
  /** Path of the `.eml`, relative to the patient folder. */
  file: string;
  /** Portable export: the decrypted original document, relative to the patient folder. */
  original?: { file: string; contentType: string; sha256: string } | undefined;
}

export interface ExportedPatient {
  id: string;
  identity: FiledIdentity;
  /** The treating doctor the operator named (`patients set-treating`); absent: the rule of the first summary. */
  treatingDoctor?: string | undefined;
  documents: ExportedDocument[];
}

// suppressBooleanAttributes off: verified="true" is written out, never as a bare `verified` a parser may drop.
const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true, suppressBooleanAttributes: false });
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseAttributeValue: false, parseTagValue: false, isArray: (name) => name === 'document' });

export function exportXml(p: ExportedPatient, exportedAt: string): string {
  const id = p.identity;
  const doc = {
    'medgate-export': {
      '@_version': '1', '@_exportedAt': exportedAt,
      patient: {
        '@_id': p.id,
        familyName: id.familyName, givenName: id.givenName, birthDate: id.birthDate,
        ...(id.sex ? { sex: id.sex } : {}),
        ...(id.ins ? { ins: { '@_value': id.ins.value, '@_oid': id.ins.oid } } : {}),
        // Only the operator's choice: the first-summary rule is rebuilt from the documents on import.
        ...(p.treatingDoctor ? { treatingDoctor: { '@_setBy': 'operator', '#text': p.treatingDoctor } } : {}),
      },
      documents: {
        document: p.documents.map((d) => ({
          '@_id': d.id, '@_type': d.type, '@_date': d.date, '@_part': d.part, '@_file': d.file, '@_sha256': d.sha256,
          '@_verified': String(d.verified),
          ...(d.writtenAs === 'replacement' ? { '@_writtenAs': 'replacement' } : {}),
          ...(d.original ? { '@_original': d.original.file, '@_originalType': d.original.contentType, '@_originalSha256': d.original.sha256 } : {}),
          messageId: d.messageId, sender: d.sender,
          ...(d.senderRole ? { senderRole: d.senderRole } : {}),
          ...(d.title ? { title: d.title } : {}),
          ...(d.contentDigest ? { contentDigest: d.contentDigest } : {}),
          ...(d.signerFingerprint ? { signerFingerprint: d.signerFingerprint } : {}),
          ...(d.supersededBy ? { supersededBy: d.supersededBy } : {}),
          // <author status="unverified">transmitted by X, author not verified</author>: the mark, readable by anyone.
          ...(d.author && d.author.status !== 'sender' ? {
            author: {
              '@_status': d.author.status,
              ...(d.author.status === 'verified' ? { '@_address': d.author.address, '@_via': d.author.via } : d.author.via ? { '@_via': d.author.via } : {}),
              ...(d.author.name ? { '@_name': d.author.name } : {}),
              '#text': authorMark(d.author, d.sender),
            },
          } : {}),
        })),
      },
    },
  };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(doc) as string}`;
}

type Node = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

export function parseExportXml(xml: string): ExportedPatient {
  const bad = (what: string): never => { throw new FilingError(FilingErrorCode.EXPORT_INVALID, `export.xml is invalid: ${what}`); };
  let root: Node;
  try {
    root = (parser.parse(xml) as Node)['medgate-export'] as Node;
  } catch {
    return bad('not well-formed XML');
  }
  if (!root || str(root['@_version']) !== '1') return bad('not a medgate export version 1');
  const p = root.patient as Node | undefined;
  if (!p) return bad('no patient element');
  const familyName = str(p.familyName);
  const givenName = str(p.givenName);
  const birthDate = str(p.birthDate);
  if (!familyName || !givenName || !birthDate || !/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) return bad('patient identity incomplete');
  const identity: FiledIdentity = { familyName, givenName, birthDate };
  const sex = str(p.sex);
  if (sex) identity.sex = sex;
  const ins = p.ins as Node | undefined;
  if (ins && str(ins['@_value']) && str(ins['@_oid'])) identity.ins = { value: str(ins['@_value'])!, oid: str(ins['@_oid'])! };
  // Exports written before these were carried have neither: the first-summary rule applies.
  const treating = p.treatingDoctor as Node | string | undefined;
  const treatingDoctor = typeof treating === 'object' ? str(treating['#text']) : str(treating);
  if (treatingDoctor !== undefined && !/^[^@\s]+@[^@\s]+$/.test(treatingDoctor.trim())) return bad('treatingDoctor is not an address');
  const docs = ((root.documents as Node | undefined)?.document as Node[] | undefined) ?? [];
  const documents = docs.map((d): ExportedDocument => {
    const need = (v: string | undefined, what: string): string => v ?? bad(`document without ${what}`);
    return {
      id: need(str(d['@_id']), 'id'), type: need(str(d['@_type']), 'type'), date: need(str(d['@_date']), 'date'),
      part: need(str(d['@_part']), 'part'), file: need(str(d['@_file']), 'file'), sha256: need(str(d['@_sha256']), 'sha256'),
      verified: str(d['@_verified']) === 'true', messageId: need(str(d.messageId), 'messageId'), sender: need(str(d.sender), 'sender'),
      senderRole: str(d.senderRole) ?? null, title: str(d.title) ?? null, contentDigest: str(d.contentDigest) ?? null,
      signerFingerprint: str(d.signerFingerprint) ?? null, supersededBy: str(d.supersededBy) ?? null,
      ...(str(d['@_writtenAs']) === 'replacement' ? { writtenAs: 'replacement' as const } : {}),
      ...(authorOfXml(d.author) ? { author: authorOfXml(d.author) } : {}),
    };
  });
  return { id: str(p['@_id']) ?? '', identity, ...(treatingDoctor ? { treatingDoctor: treatingDoctor.trim().toLowerCase() } : {}), documents };
}

function authorOfXml(v: unknown): DocumentAuthor | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const a = v as Node;
  const name = str(a['@_name']);
  if (str(a['@_status']) === 'verified' && str(a['@_address'])) {
    const read = str(a['@_via']);
    const via = read === 'hprim' || read === 'smime' ? read : 'xdm';
    return { status: 'verified', address: str(a['@_address'])!, via, ...(name ? { name } : {}) };
  }
  if (str(a['@_status']) === 'unverified') return { status: 'unverified', ...(str(a['@_via']) ? { via: str(a['@_via'])! } : {}), ...(name ? { name } : {}) };
  return undefined;
}

/** Folder name of a patient: the INS matricule when known, else the internal id. */
export function exportFolderName(p: { id: string; identity: FiledIdentity }): string {
  return p.identity.ins ? `INS-${p.identity.ins.value.replace(/[^0-9A-Za-z]/g, '')}` : p.id.replace(/[^0-9A-Za-z_-]/g, '');
}
