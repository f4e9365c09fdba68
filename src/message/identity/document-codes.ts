/**
 * The codes medgate writes for a document of each type, in an XDM archive's metadata and in the CDA
 * header it wraps a document in (xdm-writer.ts, cda-writer.ts). The reverse mapping, code → type, is
 * classify/'s (src/message/classify/codes.ts): every type written here reads back as itself.
 */
import type { DocumentType } from '../classify/index.js';

export interface CodedValue {
  code: string;
  displayName: string;
}

export const LOINC = '2.16.840.1.113883.6.1';
/** TRE_A03-ClasseDocument (CI-SIS): the code system of JDV_J06-XdsClassCode-CISIS. */
export const CISIS_CLASS_CODE_SYSTEM = '1.2.250.1.213.1.1.4.1';

/**
 * Document type → typeCode, the CDA header's `code` (X-MSS-CODECDA). Each is taken, with its label,
 * from the ANS value set JDV_J07-XdsTypeCode-CISIS (OID 1.2.250.1.213.1.1.5.471, version of
 * 2024-09-27 as published in ansforge/TestContenuCDA-3-0, jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml),
 * the value set the CI-SIS Structuration minimale binds ClinicalDocument/code to; classify/ maps each
 * back to its type. `letter` is the "Lettre d'adressage" (a doctor writing to a colleague about a
 * patient). `other` has no code of its own in JDV_J07 (it has no generic clinical type; its
 * `E1762 Full Document` is coded in ASTM, not an OID a CDA code can carry): medgate writes the LOINC
 * generic "Note" (34109-9), which classify/ does not map, so it reads back as `other`.
 */
export const TYPE_CODES: Record<DocumentType, CodedValue> = {
  'consultation-report': { code: '11488-4', displayName: 'CR ou fiche de consultation ou de visite' },
  'hospital-report': { code: '34133-9', displayName: 'Synthèse d\'épisode de soins' },
  'operative-report': { code: '34874-8', displayName: 'CR opératoire' },
  biology: { code: '11502-2', displayName: 'CR d\'examens biologiques' },
  imaging: { code: '18748-4', displayName: 'CR d\'imagerie médicale' },
  'exam-report': { code: '70004-7', displayName: 'CR d\'acte diagnostique (autre)' },
  'pathology-report': { code: '60568-3', displayName: 'CR d\'anatomie et de cytologie pathologiques' },
  certificate: { code: '89601-9', displayName: 'Certificat médical' },
  prescription: { code: '57833-6', displayName: 'Prescription de produits de santé' },
  summary: { code: '60591-5', displayName: 'Synthèse médicale' },
  letter: { code: '96349-6', displayName: 'Lettre d\'adressage' },
  other: { code: '34109-9', displayName: 'Note' },
};

/**
 * The classes of JDV_J06-XdsClassCode-CISIS used here, code and label as the ANS publishes them.
 * Source: ANS, Terminologies de Santé (IG v1.10.0), ValueSet JDV-J06-XdsClassCode-CISIS version
 * 20230922120000 (OID 1.2.250.1.213.1.1.5.462, https://mos.esante.gouv.fr/NOS/JDV_J06-XdsClassCode-CISIS/FHIR/JDV-J06-XdsClassCode-CISIS),
 * which also holds 43 Dispensation, 44 Plan de soins, 45 Traitement administré, 60 Données de
 * remboursement, 90 Autres documents déposés par le patient, 95 Document de gestion, 99 Document
 * technique (not written by medgate).
 */
const CISIS_CLASSES = {
  report: { code: '10', displayName: 'Compte rendu' },
  summary: { code: '11', displayName: 'Synthèse' },
  imaging: { code: '31', displayName: 'Imagerie médicale' },
  prescription: { code: '42', displayName: 'Prescription' },
  certificate: { code: '52', displayName: 'Certificat, déclaration' },
} as const;

/**
 * Document type → CI-SIS class. The ANS's own type → class table (ASS_X04-CorrespondanceType-Classe-CISIS)
 * was not at hand: each type goes to the JDV_J06 class its label names (reports of every kind are
 * "Compte rendu", the medical summary VSM is "Synthèse", imaging reports "Imagerie médicale").
 * `letter`/`other` have no class of their own in JDV_J06: they are filed as "Compte rendu", the
 * class of the clinical documents a doctor writes about a patient.
 */
export const CLASS_CODES: Record<DocumentType, CodedValue> = {
  'consultation-report': CISIS_CLASSES.report,
  'hospital-report': CISIS_CLASSES.report,
  'operative-report': CISIS_CLASSES.report,
  biology: CISIS_CLASSES.report,
  imaging: CISIS_CLASSES.imaging,
  'exam-report': CISIS_CLASSES.report,
  'pathology-report': CISIS_CLASSES.report,
  certificate: CISIS_CLASSES.certificate,
  prescription: CISIS_CLASSES.prescription,
  summary: CISIS_CLASSES.summary,
  letter: CISIS_CLASSES.report,
  other: CISIS_CLASSES.report,
};

/** IHE format codes (TRE_A11-IheFormatCode): the XDS codingScheme of formatCode. */
export const IHE_FORMAT_CODE_SYSTEM = '1.3.6.1.4.1.19376.1.2.3';

/**
 * The media types a CDA R2 non-structured body (N1) may carry, and the XDS formatCode of a document
 * that carries each: the ANS association ASS_A12-CorresMediaTypeCDANonStructure-XdsFormatCode-CISIS
 * (TRE_R222-MediaTypeCorpsCDANonStructure → TRE_A11-IheFormatCode), labels from JDV_J10-XdsFormatCode-CISIS.
 * A document of any other type (PNG, DOCX, DICOM…) cannot be an N1 body: it goes into the archive as
 * it came.
 */
export const N1_FORMAT_CODES: Readonly<Record<string, CodedValue>> = {
  'application/pdf': { code: 'urn:ihe:iti:xds-sd:pdf:2008', displayName: 'Document à corps non structuré en Pdf/A-1' },
  'text/plain': { code: 'urn:ihe:iti:xds-sd:text:2008', displayName: 'Document à corps non structuré en texte brut' },
  'text/rtf': { code: 'urn:ihe:iti-fr:xds-sd:rtf:2010', displayName: 'Document à corps non structuré en format rtf' },
  'image/jpeg': { code: 'urn:ihe:iti-fr:xds-sd:jpeg:2010', displayName: 'Document à corps non structuré en format jpeg' },
  'image/tiff': { code: 'urn:ihe:iti-fr:xds-sd:tiff:2010', displayName: 'Document à corps non structuré en format tiff' },
};

/** The media type as an N1 body names it (lower case, no parameters), or undefined when it cannot be one. */
export function n1MediaType(mimeType: string): string | undefined {
  const bare = mimeType.split(';')[0]!.trim().toLowerCase();
  const canonical = bare === 'application/rtf' ? 'text/rtf' : bare === 'image/jpg' ? 'image/jpeg' : bare;
  return N1_FORMAT_CODES[canonical] ? canonical : undefined;
}

/** TRE_R94 profession/savoir-faire codes, the code system of JDV_J01-XdsAuthorSpecialty-CISIS. */
export const AUTHOR_SPECIALTY_SYSTEM = '1.2.250.1.213.1.1.4.5';

/**
 * The author's profession and specialty as JDV_J01-XdsAuthorSpecialty-CISIS (OID 1.2.250.1.213.1.1.5.461)
 * codes them, the value set the CI-SIS binds both XDS authorSpecialty and the CDA author's `code` to:
 * `G15_<profession>[/<specialty>]` (`G15_10/SM54` Médecin - Médecine générale, `G15_60` Infirmier).
 */
export function authorSpecialty(a: { professionCode?: string | null; professionLabel?: string | null; specialtyCode?: string | null; specialtyLabel?: string | null }): CodedValue | undefined {
  if (!a.professionCode) return undefined;
  const code = `G15_${a.professionCode}${a.specialtyCode ? `/${a.specialtyCode}` : ''}`;
  return { code, displayName: [a.professionLabel, a.specialtyLabel].filter(Boolean).join(' - ') || code };
}

/**
 * The codes of a document type, `other`'s for a name that is not one: a type can come from outside
 * (a routing header, an archive), and a plain lookup would answer `constructor` or `toString` with
 * Object's own members.
 */
export function typeCodeOf(type: string | undefined): CodedValue {
  return type && Object.hasOwn(TYPE_CODES, type) ? TYPE_CODES[type as DocumentType] : TYPE_CODES.other;
}
