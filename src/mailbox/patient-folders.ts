/** The tree where each patient's messages also appear, e.g. `Patients/DUPONT Jean (1959-01-30)`. */
export const PATIENTS_ROOT = 'Patients';

/**
 * Key under which a pseudonymised part of a folder name (folder-names.ts) is kept, encrypted, in the
 * metadata cache: `mbx:~…`, or `mbx:Patients/~…` for a patient folder.
 */
export function folderNameKey(stored: string): string {
  return `mbx:${stored}`;
}
