/**
 * Finds an IHE XDM archive among the attachments and reads its METADATA.XML files.
 * An attachment named `IHE_XDM.ZIP` is an XDM archive by declaration: if it is corrupt or unsafe
 * the message is refused (typed error) rather than filed from a less trusted source. Any other ZIP
 * is XDM only if it holds an `IHE_XDM/` folder; an unreadable non-XDM zip is simply not XDM.
 */
import { MedgateError } from '../../errors.js';
import { readCdaHeader, type CdaHeader } from './cda-reader.js';
import type { ExtractionAttachment, ExtractionInput } from '../parse.js';
import { XDM_ARCHIVE_TOO_LARGE, XDM_METADATA_INVALID } from './errors.js';
import { DEFAULT_ZIP_LIMITS, extractZipEntry, listZipEntries, type ZipEntry, type ZipLimits } from './safe-unzip.js';
import { parseXdmMetadata, type XdmDocumentEntry } from './xdm-metadata.js';
import type { PatientIdentity, RejectedSource } from './types.js';

export type XdmEntry = XdmDocumentEntry & {
  subset: string;
  /** The header of the entry's file when it is a CDA document (cda-reader.ts). */
  cda?: CdaHeader;
};

export interface XdmContent {
  /** Attachment the archive came from (file name, or `attachment#n` when it had none). */
  archive: string;
  entries: XdmEntry[];
  patients: PatientIdentity[];
  rejected: RejectedSource[];
}

export interface XdmOptions {
  zipLimits?: ZipLimits;
  /** METADATA.XML larger than this is refused. */
  maxMetadataBytes?: number;
  now?: Date;
}

const METADATA_PATH = /(?:^|\/)IHE_XDM\/([^/]+)\/METADATA\.XML$/i;

export function attachmentLabel(a: ExtractionAttachment, index: number): string {
  return a.filename ?? `attachment#${index + 1}`;
}

export function isZipAttachment(a: ExtractionAttachment): boolean {
  return /\.zip$/i.test(a.filename ?? '') || /zip/i.test(a.contentType);
}

export function readXdm(input: ExtractionInput, options: XdmOptions = {}): XdmContent | undefined {
  const limits = options.zipLimits ?? DEFAULT_ZIP_LIMITS;
  for (const [index, att] of input.attachments.entries()) {
    const declared = /^IHE_XDM\.ZIP$/i.test(att.filename ?? '');
    if (!declared && !isZipAttachment(att)) continue;
    if (att.omitted) {
      // Too large to be read for metadata (streamed parse of a large message).
      if (declared) throw new MedgateError(XDM_ARCHIVE_TOO_LARGE, 'The IHE_XDM.ZIP archive is too large to be read', { size: att.omitted.size });
      continue;
    }
    let entries: ZipEntry[];
    try {
      entries = listZipEntries(att.content, limits);
    } catch (err) {
      if (declared) throw err;
      continue;
    }
    const isXdm = declared || entries.some((e) => /(?:^|\/)IHE_XDM\//i.test(e.name));
    if (!isXdm) continue;
    return readArchive(att.content, entries, attachmentLabel(att, index), options);
  }
  return undefined;
}

function readArchive(zip: Buffer, entries: ZipEntry[], archive: string, options: XdmOptions): XdmContent {
  const maxMetadata = options.maxMetadataBytes ?? 8 * 1024 * 1024;
  const content: XdmContent = { archive, entries: [], patients: [], rejected: [] };
  const metadataEntries = entries.filter((e) => METADATA_PATH.test(e.name));
  if (metadataEntries.length === 0) {
    throw new MedgateError(XDM_METADATA_INVALID, 'XDM archive has no IHE_XDM/SUBSET*/METADATA.XML');
  }
  for (const entry of metadataEntries) {
    if (entry.uncompressedSize > maxMetadata) {
      throw new MedgateError(XDM_METADATA_INVALID, 'XDM metadata file is too large', { max: maxMetadata });
    }
    const subset = METADATA_PATH.exec(entry.name)?.[1] ?? '';
    const xml = extractZipEntry(zip, entry).toString('utf8');
    const meta = parseXdmMetadata(xml, options.now);
    content.entries.push(...meta.entries.map((e) => withCda({ ...e, subset }, zip, entries, entry.name)));
    content.patients.push(...meta.patients);
    content.rejected.push(...meta.rejected);
  }
  return content;
}

/** A CDA file is XML: its entry says text/xml (application/xml, …+xml) or its name ends in .XML. */
function mayBeCda(e: XdmDocumentEntry): boolean {
  return /xml/i.test(e.mimeType ?? '') || /\.xml$/i.test(e.uri ?? '');
}

/**
 * The entry with its file's CDA header, when the file is a CDA document; a typeCode missing from the
 * metadata is taken from the CDA `code` (the same value set, JDV_J07, binds both).
 */
function withCda(e: XdmEntry, zip: Buffer, entries: ZipEntry[], metadataPath: string): XdmEntry {
  if (!e.uri || !mayBeCda(e)) return e;
  const folder = metadataPath.slice(0, metadataPath.length - 'METADATA.XML'.length);
  const file = entries.find((z) => z.name.toUpperCase() === `${folder}${e.uri}`.toUpperCase());
  if (!file) return e;
  let text: string;
  try {
    text = extractZipEntry(zip, file).toString('utf8');
  } catch {
    // A document that does not inflate is read no further, as before CDA headers were read: the
    // archive's metadata, which did, still types and names it.
    return e;
  }
  const cda = readCdaHeader(text);
  if (!cda) return e;
  const out: XdmEntry = { ...e, cda };
  if (!out.typeCode && cda.code) out.typeCode = cda.code;
  return out;
}
