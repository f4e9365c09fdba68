/**
 * The rights matrix: which sender role may file which document type into a shared record. Pure
 * functions: the SMTP submission calls `checkRights` for every record-server recipient and refuses
 * the message at end of DATA when it answers no.
 */
import { roleOf, type Role } from '../directory/professions.js';
import { DOCUMENT_TYPES, type DocumentType } from '../message/classify/index.js';
import type { DirectoryEntry } from '../store/types.js';

/** Roles of the matrix: the directory roles plus `doctor` (a doctor whose specialty is unknown). */
export type RightsRole = Role | 'doctor';

export type RightsMatrix = Partial<Record<RightsRole, readonly string[]>>;

export interface RightsConfig {
  /** Per role, the document types it may send; replaces the default row of each role it names. */
  rights?: RightsMatrix;
  /** Per sender address, the role to use (applications, or a correction of the directory). */
  senders?: Record<string, string>;
}

const DOCTOR: readonly DocumentType[] = [
  'summary', 'consultation-report', 'hospital-report', 'operative-report', 'exam-report', 'prescription', 'certificate', 'letter', 'other',
];

/**
 * Default, judged on a document's AUTHOR (src/filing/authors.ts): any doctor may author summaries,
 * reports of consultations, stays, operations and examinations, prescriptions, certificates and
 * letters; only a biologist authors biology and only a radiologist imaging (the DMP's rule: a GP does
 * not author a biology report); a pathology report comes from a specialist (anatomo-pathologists are
 * specialists), not from a GP; pharmacists prescriptions and letters; nurses letters; an
 * organisation (hospital mailbox) reports and letters; an application only what its configured role
 * allows (`filing.senders`), else letters and other.
 */
export const DEFAULT_RIGHTS: Readonly<Record<RightsRole, readonly DocumentType[]>> = Object.freeze({
  'general-practitioner': DOCTOR,
  specialist: [...DOCTOR, 'pathology-report'],
  doctor: DOCTOR,
  biologist: [...DOCTOR, 'biology'],
  radiologist: [...DOCTOR, 'imaging'],
  pharmacist: ['prescription', 'letter', 'other'],
  nurse: ['letter', 'other'],
  'other-professional': ['letter', 'other'],
  organisation: ['consultation-report', 'hospital-report', 'operative-report', 'exam-report', 'pathology-report', 'certificate', 'letter', 'other'],
  application: ['letter', 'other'],
});

export const RIGHTS_ROLES = Object.keys(DEFAULT_RIGHTS) as RightsRole[];

export type SenderForRights = Pick<DirectoryEntry, 'address' | 'mailboxType' | 'professionCode' | 'specialtyCode' | 'specialtyLabel'>;

export type RightsDecision = { ok: true; role: RightsRole } | { ok: false; role: RightsRole; reason: string };

/** Role the matrix applies to this sender: configured override first, then the directory. */
export function rightsRoleOf(sender: SenderForRights, config: RightsConfig = {}): RightsRole {
  const configured = config.senders?.[sender.address.toLowerCase()];
  if (configured && (RIGHTS_ROLES as string[]).includes(configured)) return configured as RightsRole;
  const role = roleOf(sender);
  if (role === 'other-professional' && sender.professionCode?.trim() === '10') return 'doctor';
  return role;
}

/** Who a role is, in a sentence ("a general practitioner cannot author ..."). */
const ROLE_PHRASE: Readonly<Record<RightsRole, string>> = {
  'general-practitioner': 'a general practitioner',
  specialist: 'a specialist doctor',
  doctor: 'a doctor',
  biologist: 'a biologist',
  radiologist: 'a radiologist',
  pharmacist: 'a pharmacist',
  nurse: 'a nurse',
  'other-professional': 'a health professional of this kind',
  organisation: 'an organisation mailbox',
  application: 'an application mailbox',
};

/** A document of a type, with its article ("a biology report", "an imaging report"). */
const TYPE_PHRASE: Readonly<Record<DocumentType, string>> = {
  summary: 'a medical summary',
  'consultation-report': 'a consultation report',
  'hospital-report': 'a hospital report',
  'operative-report': 'an operative report',
  'exam-report': 'an examination report',
  'pathology-report': 'a pathology report',
  biology: 'a biology report',
  imaging: 'an imaging report',
  prescription: 'a prescription',
  certificate: 'a medical certificate',
  letter: 'a letter',
  other: 'a document of another kind',
};

/** What to do instead, for the types another profession authors. */
function insteadOf(type: DocumentType): string {
  switch (type) {
    case 'biology':
      return "forward the laboratory's own report instead (its HPRIM file, its IHE_XDM.ZIP, or its signed message attached as is): it is filed under the laboratory";
    case 'imaging':
      return "forward the radiologist's own report instead (its IHE_XDM.ZIP, or its signed message attached as is): it is filed under the radiologist";
    case 'pathology-report':
      return "forward the pathologist's own report instead (its IHE_XDM.ZIP, or its signed message attached as is): it is filed under the pathologist";
    default:
      return 'ask a professional who may author it to send it, or forward the author\'s own signed message attached as is; the record server\'s operator sets who may file what (filing.rights)';
  }
}

/** The refusal's sentence: who cannot author what, and what to do instead (role and type only, nothing medical). */
export function refusalReason(role: RightsRole, type: DocumentType): string {
  return `${ROLE_PHRASE[role]} cannot author ${TYPE_PHRASE[type]} in a shared record; ${insteadOf(type)}`;
}

/**
 * Whether `sender` may file a document of `documentType` into a shared record. The reason is for
 * the SMTP reply and the audit trail: role and type only, nothing medical.
 */
export function checkRights(sender: SenderForRights, documentType: string, config: RightsConfig = {}): RightsDecision {
  const role = rightsRoleOf(sender, config);
  if (!(DOCUMENT_TYPES as readonly string[]).includes(documentType)) {
    return { ok: false, role, reason: `the document type "${documentType}" is unknown to this gateway; send it as a letter, or ask the operator to update medgate` };
  }
  const allowed = config.rights?.[role] ?? DEFAULT_RIGHTS[role];
  if (allowed.includes(documentType)) return { ok: true, role };
  return { ok: false, role, reason: refusalReason(role, documentType as DocumentType) };
}

/** Checks every document of a message: the first refusal wins. */
export function checkRightsAll(sender: SenderForRights, documentTypes: string[], config: RightsConfig = {}): RightsDecision {
  let last: RightsDecision = { ok: true, role: rightsRoleOf(sender, config) };
  for (const t of new Set(documentTypes)) {
    last = checkRights(sender, t, config);
    if (!last.ok) return last;
  }
  return last;
}
