import type { MetaKey } from './meta-key.js';

/** The tree where each patient's messages also appear, e.g. `Patients/DUPONT Jean (1959-01-30)`. */
export const PATIENTS_ROOT = 'Patients';
/** Stored names of patient folders carry a keyed pseudonym, never the patient's name. */
const STORED_PREFIX = `${PATIENTS_ROOT}/~`;

export function isStoredPatientFolder(stored: string): boolean {
  return stored.startsWith(STORED_PREFIX);
}

export function storedPatientFolder(metaKey: Pick<MetaKey, 'pseudonym'>, display: string): string {
  return STORED_PREFIX + metaKey.pseudonym(display.normalize('NFC'));
}

/** Key under which the folder's display name is kept, encrypted, in the metadata cache. */
export function folderNameKey(stored: string): string {
  return `mbx:${stored}`;
}
