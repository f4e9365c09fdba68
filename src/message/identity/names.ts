import type { PatientIdentity } from './types.js';

/**
 * Name form used for matching only: accents stripped (NFD), upper-case, hyphens, apostrophes and
 * runs of spaces folded to one space. `DUPONT-MARTIN` and `Dupont Martin` compare equal. Display
 * keeps the text as the sender wrote it.
 */
export function normalizeName(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toUpperCase()
    .replace(/[-‐‑–—'’ʼ`´]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Matching key `NOM|PRENOM|YYYY-MM-DD`. */
export function patientKey(p: Pick<PatientIdentity, 'familyName' | 'givenName' | 'birthDate'>): string {
  return `${normalizeName(p.familyName)}|${normalizeName(p.givenName)}|${p.birthDate}`;
}

/** Letters, spaces, hyphens and apostrophes only, at least one letter: a plausible person name. */
export function isPlausibleName(s: string, maxLength = 50): boolean {
  const t = s.trim();
  return t.length > 0 && t.length <= maxLength && /^\p{L}[\p{L}\p{M} '’.-]*$/u.test(t);
}
