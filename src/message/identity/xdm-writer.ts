/**
 * Writes an IHE XDM archive (`IHE_XDM.ZIP`) as MSSanté asks of practice software (issue 28 item 3):
 * `IHE_XDM/SUBSET01/METADATA.XML` (an ebXML SubmitObjectsRequest, ITI TF-3 §4.2) with the patient
 * (INS when known, traits otherwise), the author from the health directory (RPPS, profession,
 * specialty), class and type codes from the document type, and one document entry per document with
 * its SHA-1 hash and size (XDS `hash` / `size` slots), beside the documents, `INDEX.HTM` and
 * `README.TXT`. Its own reader (xdm.ts, xdm-metadata.ts) reads back what it writes.
 *
 * Each document whose type a CDA non-structured body may carry (PDF, text, RTF, JPEG, TIFF:
 * document-codes.ts) goes in wrapped in a CDA R2 N1 document (cda-writer.ts), so that the
 * archive holds CDA documents as the CI-SIS and the Référentiel socle MSSanté #2 expect (and the
 * message can carry X-MSS-CODECDA / X-MSS-INS); its entry describes the CDA file (mimeType
 * text/xml, formatCode of the N1 body's media type, hash and size of the CDA file). A document of
 * another type goes in as it came.
 *
 * Codes (document-codes.ts): typeCode from JDV_J07 (LOINC), classCode the CI-SIS document class
 * (TRE_A03-ClasseDocument, OID 1.2.250.1.213.1.1.4.1, values of JDV_J06-XdsClassCode-CISIS, the value
 * set the CI-SIS binds classCode to "in the absence of further specifications"; DMP projects use
 * JDV_J57, which lists the same classes), formatCode from TRE_A11-IheFormatCode.
 */
import { createHash, randomUUID } from 'node:crypto';
import { XMLBuilder } from 'fast-xml-parser';
import { zipSync } from 'fflate';
import type { DocumentType } from '../classify/index.js';
import { writeCdaN1 } from './cda-writer.js';
import { AUTHOR_SPECIALTY_SYSTEM, authorSpecialty, CISIS_CLASS_CODE_SYSTEM, CLASS_CODES, IHE_FORMAT_CODE_SYSTEM, LOINC, N1_FORMAT_CODES, n1MediaType, typeCodeOf } from './document-codes.js';
import type { PatientIdentity } from './types.js';

export { CISIS_CLASS_CODE_SYSTEM, CLASS_CODES, TYPE_CODES } from './document-codes.js';

export interface XdmDocumentInput {
  /** Name in the message (kept as the entry title when there is no better one). */
  fileName: string;
  mimeType: string;
  content: Buffer;
  type: DocumentType;
  title?: string;
}

/** The author as the directory knows it (non-medical facts). */
export interface XdmAuthor {
  /** RPPS (8 + 11 digits in the national identifier) or ADELI, as the directory holds it. */
  nationalId?: string | null;
  familyName?: string | null;
  givenName?: string | null;
  professionCode?: string | null;
  professionLabel?: string | null;
  specialtyCode?: string | null;
  specialtyLabel?: string | null;
  organisation?: string | null;
}

export interface XdmWriteInput {
  patient: Pick<PatientIdentity, 'familyName' | 'givenName' | 'birthDate' | 'sex' | 'ins'>;
  author: XdmAuthor;
  documents: XdmDocumentInput[];
  /** Submission time (default now). */
  time?: Date;
  /** Who keeps the documents (the CDA custodian): the practice or the gateway's domain. */
  custodian?: string;
}

export interface WrittenXdm {
  zip: Buffer;
  metadataXml: string;
  /** LOINC type codes of the documents, in order. */
  typeCodes: string[];
  /** The `code` of each CDA document in the archive, in order (X-MSS-CODECDA); empty when none. */
  cdaCodes: string[];
}

// ebXML / XDS identifiers (IHE ITI TF-3 §4.2.5).
const DOC_ENTRY_OBJECT_TYPE = 'urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1';
const SUBMISSION_SET_NODE = 'urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd';
const DOC_AUTHOR_SCHEME = 'urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d';
const SET_AUTHOR_SCHEME = 'urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d';
const CLASS_CODE_SCHEME = 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a';
const TYPE_CODE_SCHEME = 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983';
const FORMAT_CODE_SCHEME = 'urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d';
const DOC_PATIENT_ID_SCHEME = 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427';
const DOC_UNIQUE_ID_SCHEME = 'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab';
const SET_PATIENT_ID_SCHEME = 'urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446';
const SET_UNIQUE_ID_SCHEME = 'urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8';
const RPPS_OID = '1.2.250.1.71.4.2.1';

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });

type XmlNode = Record<string, unknown>;

const slot = (name: string, ...values: string[]): XmlNode => ({ '@_name': name, 'rim:ValueList': { 'rim:Value': values } });
const named = (value: string): XmlNode => ({ 'rim:LocalizedString': { '@_value': value } });

function hl7Date(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** `NOM^Prénom^^^^^L`, `AAAAMMJJ`, INS as HL7 CX: what xdm-metadata.ts reads. */
function patientSlots(p: XdmWriteInput['patient']): string[] {
  const values: string[] = [];
  if (p.ins) values.push(`PID-3|${insCx(p.ins)}`);
  values.push(`PID-5|${hl7Escape(p.familyName)}^${hl7Escape(p.givenName)}^^^^^L`);
  values.push(`PID-7|${p.birthDate.replace(/-/g, '')}`);
  if (p.sex) values.push(`PID-8|${p.sex}`);
  return values;
}

function insCx(ins: NonNullable<XdmWriteInput['patient']['ins']>): string {
  return `${ins.value}^^^&${ins.oid}&ISO^NH`;
}

/** HL7 v2 delimiters in a name would shift the fields a reader sees. */
function hl7Escape(v: string): string {
  return v.replace(/[|^~\\&]/g, ' ').replace(/\s+/g, ' ').trim();
}

/** `RPPS^NOM^Prénom^^^^^^&OID&ISO^D^^^IDNPS` (XCN, as in the CI-SIS). */
function authorPerson(a: XdmAuthor): string {
  const id = (a.nationalId ?? '').trim();
  const family = hl7Escape(a.familyName ?? '');
  const given = hl7Escape(a.givenName ?? '');
  return id ? `${id}^${family}^${given}^^^^^^&${RPPS_OID}&ISO^D^^^IDNPS` : `^${family}^${given}`;
}

function authorClassification(scheme: string, objectId: string, a: XdmAuthor): XmlNode {
  const slots = [slot('authorPerson', authorPerson(a))];
  if (a.organisation) slots.push(slot('authorInstitution', hl7Escape(a.organisation)));
  if (a.professionCode || a.professionLabel) slots.push(slot('authorRole', `${a.professionCode ?? ''}^${hl7Escape(a.professionLabel ?? '')}^1.2.250.1.71.1.2.7`));
  // JDV_J01-XdsAuthorSpecialty-CISIS, as the CDA author's code (document-codes.ts).
  const specialty = authorSpecialty(a);
  if (specialty) slots.push(slot('authorSpecialty', `${specialty.code}^${hl7Escape(specialty.displayName)}^${AUTHOR_SPECIALTY_SYSTEM}`));
  return { '@_id': `urn:uuid:${randomUUID()}`, '@_classificationScheme': scheme, '@_classifiedObject': objectId, '@_nodeRepresentation': '', 'rim:Slot': slots };
}

function codeClassification(scheme: string, objectId: string, code: { code: string; displayName: string }, codingScheme: string): XmlNode {
  return {
    '@_id': `urn:uuid:${randomUUID()}`, '@_classificationScheme': scheme, '@_classifiedObject': objectId, '@_nodeRepresentation': code.code,
    'rim:Slot': [slot('codingScheme', codingScheme)], 'rim:Name': named(code.displayName),
  };
}

const EXTENSIONS: Record<string, string> = {
  'application/pdf': 'PDF', 'text/plain': 'TXT', 'text/xml': 'XML', 'application/xml': 'XML', 'text/html': 'HTM',
  'image/jpeg': 'JPG', 'image/png': 'PNG', 'application/dicom': 'DCM',
};

/** XDM file names are 8.3 in upper case (ITI TF-1 §16: portable media). */
function fileNameOf(doc: XdmDocumentInput, index: number): string {
  const fromName = /\.([A-Za-z0-9]{1,3})$/.exec(doc.fileName)?.[1];
  const ext = (EXTENSIONS[doc.mimeType.toLowerCase()] ?? fromName ?? 'BIN').toUpperCase();
  return `DOC${String(index + 1).padStart(4, '0')}.${ext}`;
}

/** An OID from a random UUID (ITU-T X.667 `2.25` arc): unique without a registered root. */
function uuidOid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

interface StoredDocument {
  name: string;
  mimeType: string;
  bytes: Buffer;
  /** Set when the document went in wrapped in a CDA N1 document. */
  formatCode?: { code: string; displayName: string };
}

/** The file the archive holds for a document: its CDA N1 wrapping when its type allows one, else itself. */
function storedForm(input: XdmWriteInput, doc: XdmDocumentInput, index: number, uniqueId: string, setId: string): StoredDocument {
  const mediaType = n1MediaType(doc.mimeType);
  if (!mediaType) return { name: fileNameOf(doc, index), mimeType: doc.mimeType, bytes: doc.content };
  const cda = writeCdaN1({
    id: uniqueId, setId: `${setId}.${index + 1}`, type: doc.type, title: (doc.title ?? doc.fileName).slice(0, 200), mediaType, content: doc.content,
    patient: input.patient, author: input.author, custodian: input.custodian ?? input.author.organisation ?? 'medgate', time: input.time ?? new Date(),
  });
  return { name: `DOC${String(index + 1).padStart(4, '0')}.XML`, mimeType: 'text/xml', bytes: Buffer.from(cda.xml, 'utf8'), formatCode: N1_FORMAT_CODES[mediaType]! };
}

export function writeXdm(input: XdmWriteInput): WrittenXdm {
  if (!input.documents.length) throw new Error('an XDM archive needs at least one document');
  const time = hl7Date(input.time ?? new Date());
  const setId = 'SubmissionSet01';
  const setUniqueId = uuidOid();
  const p = input.patient;
  const files: Record<string, Uint8Array> = {};
  const entries: XmlNode[] = [];
  const associations: XmlNode[] = [];
  const typeCodes: string[] = [];
  const cdaCodes: string[] = [];
  const setCdaId = uuidOid();
  input.documents.forEach((doc, i) => {
    const id = `Document${String(i + 1).padStart(2, '0')}`;
    const uniqueId = `${setUniqueId}.${i + 1}`;
    const code = typeCodeOf(doc.type);
    typeCodes.push(code.code);
    const stored = storedForm(input, doc, i, uniqueId, setCdaId);
    if (stored.formatCode) cdaCodes.push(code.code);
    files[`IHE_XDM/SUBSET01/${stored.name}`] = new Uint8Array(stored.bytes.buffer, stored.bytes.byteOffset, stored.bytes.byteLength);
    const slots = [
      slot('creationTime', time),
      slot('hash', createHash('sha1').update(stored.bytes).digest('hex')),
      slot('languageCode', 'fr-FR'),
      slot('size', String(stored.bytes.length)),
      slot('URI', stored.name),
      ...(p.ins ? [slot('sourcePatientId', insCx(p.ins))] : []),
      slot('sourcePatientInfo', ...patientSlots(p)),
    ];
    const externalIds: XmlNode[] = [];
    if (p.ins) {
      externalIds.push({ '@_id': `urn:uuid:${randomUUID()}`, '@_identificationScheme': DOC_PATIENT_ID_SCHEME, '@_registryObject': id, '@_value': insCx(p.ins), 'rim:Name': named('XDSDocumentEntry.patientId') });
    }
    externalIds.push({ '@_id': `urn:uuid:${randomUUID()}`, '@_identificationScheme': DOC_UNIQUE_ID_SCHEME, '@_registryObject': id, '@_value': uniqueId, 'rim:Name': named('XDSDocumentEntry.uniqueId') });
    entries.push({
      '@_id': id, '@_mimeType': stored.mimeType, '@_objectType': DOC_ENTRY_OBJECT_TYPE,
      'rim:Slot': slots,
      'rim:Name': named((doc.title ?? doc.fileName).slice(0, 200)),
      'rim:Classification': [
        authorClassification(DOC_AUTHOR_SCHEME, id, input.author),
        codeClassification(CLASS_CODE_SCHEME, id, CLASS_CODES[doc.type] ?? CLASS_CODES.other, CISIS_CLASS_CODE_SYSTEM),
        codeClassification(TYPE_CODE_SCHEME, id, code, LOINC),
        ...(stored.formatCode ? [codeClassification(FORMAT_CODE_SCHEME, id, stored.formatCode, IHE_FORMAT_CODE_SYSTEM)] : []),
      ],
      'rim:ExternalIdentifier': externalIds,
    });
    associations.push({
      '@_id': `urn:uuid:${randomUUID()}`, '@_associationType': 'urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember',
      '@_sourceObject': setId, '@_targetObject': id, 'rim:Slot': [slot('SubmissionSetStatus', 'Original')],
    });
  });
  const setExternalIds: XmlNode[] = [
    { '@_id': `urn:uuid:${randomUUID()}`, '@_identificationScheme': SET_UNIQUE_ID_SCHEME, '@_registryObject': setId, '@_value': setUniqueId, 'rim:Name': named('XDSSubmissionSet.uniqueId') },
  ];
  if (p.ins) setExternalIds.push({ '@_id': `urn:uuid:${randomUUID()}`, '@_identificationScheme': SET_PATIENT_ID_SCHEME, '@_registryObject': setId, '@_value': insCx(p.ins), 'rim:Name': named('XDSSubmissionSet.patientId') });
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    'lcm:SubmitObjectsRequest': {
      '@_xmlns:lcm': 'urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0',
      '@_xmlns:rim': 'urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0',
      'rim:RegistryObjectList': {
        'rim:ExtrinsicObject': entries,
        'rim:RegistryPackage': {
          '@_id': setId, '@_objectType': 'urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject',
          'rim:Slot': [slot('submissionTime', time)],
          'rim:Classification': [authorClassification(SET_AUTHOR_SCHEME, setId, input.author)],
          'rim:ExternalIdentifier': setExternalIds,
        },
        'rim:Classification': { '@_id': `urn:uuid:${randomUUID()}`, '@_classifiedObject': setId, '@_classificationNode': SUBMISSION_SET_NODE },
        'rim:Association': associations,
      },
    },
  };
  const metadataXml = builder.build(doc) as string;
  files['IHE_XDM/SUBSET01/METADATA.XML'] = new TextEncoder().encode(metadataXml);
  files['README.TXT'] = new TextEncoder().encode('IHE XDM archive written by medgate: IHE_XDM/SUBSET01/METADATA.XML lists the documents of this message.\r\n');
  files['INDEX.HTM'] = new TextEncoder().encode(`<html><body><p>IHE XDM</p><ul>${Object.keys(files).filter((f) => f.startsWith('IHE_XDM/')).map((f) => `<li><a href="${f}">${f}</a></li>`).join('')}</ul></body></html>\r\n`);
  const zip = zipSync(files, { level: 6 });
  return { zip: Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength), metadataXml, typeCodes, cdaCodes };
}
