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

const DOCTOR: readonly DocumentType[] = ['summary', 'consultation-report', 'hospital-report', 'operative-report', 'prescription', 'letter', 'other'];

/**
 * Default: any doctor may send summaries, reports, prescriptions and letters; only a biologist may
 * send biology and only a radiologist imaging (so a GP's biology result is refused); pharmacists
 * prescriptions and letters; nurses letters; an organisation (hospital mailbox) reports and letters;
 * an application only what its configured role allows (`filing.senders`), else letters and other.
 */
export const DEFAULT_RIGHTS: Readonly<Record<RightsRole, readonly DocumentType[]>> = Object.freeze({
  'general-practitioner': DOCTOR,
  specialist: DOCTOR,
  doctor: DOCTOR,
  biologist: [...DOCTOR, 'biology'],
  radiologist: [...DOCTOR, 'imaging'],
  pharmacist: ['prescription', 'letter', 'other'],
  nurse: ['letter', 'other'],
  'other-professional': ['letter', 'other'],
  organisation: ['consultation-report', 'hospital-report', 'operative-report', 'letter', 'other'],
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

/**
 * Whether `sender` may file a document of `documentType` into a shared record. The reason is for
 * the SMTP reply and the audit trail: role and type only, nothing medical.
 */
export function checkRights(sender: SenderForRights, documentType: string, config: RightsConfig = {}): RightsDecision {
  const role = rightsRoleOf(sender, config);
  if (!(DOCUMENT_TYPES as readonly string[]).includes(documentType)) {
    return { ok: false, role, reason: `unknown document type "${documentType}"` };
  }
  const allowed = config.rights?.[role] ?? DEFAULT_RIGHTS[role];
  if (allowed.includes(documentType)) return { ok: true, role };
  return { ok: false, role, reason: `a sender with role ${role} may not file a ${documentType} document into a shared record` };
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
