import type { DirectoryEntry } from '../store/types.js';

/**
 * Profession codes of the national directory (RPPS/ADELI nomenclature) and the coarse role medgate
 * derives from them. The role drives filing (a biologist sends biology, a radiologist imaging) and
 * the rights matrix, so an entry that cannot be classified gets the least specific role.
 */
export const PROFESSION_LABELS: Readonly<Record<string, string>> = Object.freeze({
  '10': 'Médecin',
  '21': 'Pharmacien',
  '40': 'Chirurgien-dentiste',
  '50': 'Sage-femme',
  '60': 'Infirmier',
  '70': 'Masseur-kinésithérapeute',
  '86': 'Technicien de laboratoire médical',
  '91': 'Orthophoniste',
  '92': 'Orthoptiste',
});

export const PROFESSION = {
  doctor: '10',
  pharmacist: '21',
  nurse: '60',
} as const;

/** Savoir-faire codes of general practice: SM54 Médecine générale, SM26 Qualifié en médecine générale, SM53 Spécialiste en médecine générale. */
export const GENERAL_PRACTICE_SPECIALTIES: ReadonlySet<string> = new Set(['SM54', 'SM26', 'SM53']);

export type Role =
  | 'general-practitioner'
  | 'specialist'
  | 'biologist'
  | 'radiologist'
  | 'pharmacist'
  | 'nurse'
  | 'other-professional'
  | 'organisation'
  | 'application';

/** Label of a profession code, or undefined when the code is not in the table above. */
export function professionLabel(code: string | null | undefined): string | undefined {
  if (code === null || code === undefined) return undefined;
  return PROFESSION_LABELS[code.trim()];
}

type RoleInput = Pick<DirectoryEntry, 'mailboxType' | 'professionCode' | 'specialtyCode' | 'specialtyLabel'>;

/**
 * Role of a directory entry:
 * - ORG → organisation, APP → application;
 * - a doctor (10) or pharmacist (21) whose specialty label mentions biology → biologist
 *   (médecins and pharmaciens biologistes);
 * - a doctor whose specialty is radiology / medical imaging → radiologist (radiotherapy is not);
 * - a doctor in general practice (SM54, SM26, SM53) → general-practitioner; any other specialty →
 *   specialist; a doctor without a specialty → other-professional (not enough to say more);
 * - pharmacist (21) → pharmacist, nurse (60) → nurse, anyone else → other-professional.
 */
export function roleOf(entry: RoleInput): Role {
  if (entry.mailboxType === 'ORG') return 'organisation';
  if (entry.mailboxType === 'APP') return 'application';
  const profession = entry.professionCode?.trim() ?? '';
  const specialtyCode = entry.specialtyCode?.trim().toUpperCase() ?? '';
  const label = simplify(entry.specialtyLabel ?? '');

  const isBiology = label.includes('biolog');
  if (profession === PROFESSION.pharmacist) return isBiology ? 'biologist' : 'pharmacist';
  if (profession === PROFESSION.nurse) return 'nurse';
  if (profession !== PROFESSION.doctor) return 'other-professional';

  if (isBiology) return 'biologist';
  if (isImaging(label)) return 'radiologist';
  if (GENERAL_PRACTICE_SPECIALTIES.has(specialtyCode) || label.includes('medecine generale')) return 'general-practitioner';
  if (specialtyCode !== '' || label !== '') return 'specialist';
  return 'other-professional';
}

function isImaging(label: string): boolean {
  if (label.includes('imagerie')) return true;
  // "radio" covers radiologie / radio-diagnostic, but radiotherapy treats, it does not image.
  return /radio(?!-?\s?therap)/.test(label);
}

/** Lower case without accents, so labels match whatever the file's spelling. */
function simplify(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}
