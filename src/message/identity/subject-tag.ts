/**
 * Subject tag typed by a doctor: `PATIENT: NOM Prénom JJ/MM/AAAA` anywhere in the subject
 * (`Patient :` too; date separators `/`, `-` or `.`).
 *
 * Splitting the name: when the sender mixed cases, the all-capital words are the family name
 * (`DUPONT-MARTIN Jean-Louis`, `LE GOFF Anne`, even `Jean DUPONT`). When everything has the same
 * case the first word is the family name, extended over French/European particles
 * (`LE GOFF ANNE` → `LE GOFF` / `ANNE`); the rest is the given name.
 */
import { isPlausibleBirthDate, parseFrenchDate } from './dates.js';
import { isPlausibleName } from './names.js';
import type { PatientIdentity, RejectedSource } from './types.js';

const TAG = /(?<![\p{L}\d])patient\s*:\s*(.+?)\s+(\d{1,2}([/.-])\d{1,2}\3\d{4})(?!\d)/iu;

const PARTICLES = new Set([
  'LE', 'LA', 'LES', 'DE', 'DU', 'DES', 'D', 'DI', 'DA', 'DEL', 'DELLA', 'DOS', 'DAS', 'VAN', 'VON', 'DER', 'DEN',
  'MAC', 'MC', 'SAINT', 'SAINTE', 'ST', 'STE', 'EL', 'AL', 'BEN', 'TER',
]);

export type SubjectResult = { identity: PatientIdentity } | { rejected: RejectedSource } | undefined;

export function readSubjectTag(subject: string | undefined, now?: Date): SubjectResult {
  if (!subject) return undefined;
  const m = TAG.exec(subject.slice(0, 2000));
  if (!m) return undefined;
  const reject = (reason: string): SubjectResult => ({ rejected: { source: 'subject', reason } });
  const birthDate = parseFrenchDate(m[2] ?? '');
  if (!birthDate || !isPlausibleBirthDate(birthDate, now)) return reject('subject tag birth date is not a real date');
  const names = splitName(m[1] ?? '');
  if (!names) return reject('subject tag name could not be split into family and given name');
  return { identity: { source: 'subject', familyName: names.family, givenName: names.given, birthDate } };
}

export function splitName(text: string): { family: string; given: string } | undefined {
  const trimmed = text.trim();
  if (!isPlausibleName(trimmed, 120)) return undefined;
  const tokens = trimmed.split(/\s+/);
  if (tokens.length < 2) return undefined;
  const upper = tokens.map(isAllCaps);
  let family: string[];
  let given: string[];
  if (upper.some((u) => u) && upper.some((u) => !u)) {
    family = tokens.filter((_, i) => upper[i]);
    given = tokens.filter((_, i) => !upper[i]);
  } else {
    let n = 1;
    while (n < tokens.length - 1 && PARTICLES.has(stripApostrophe(tokens[n - 1] ?? ''))) n++;
    family = tokens.slice(0, n);
    given = tokens.slice(n);
  }
  if (family.length === 0 || given.length === 0) return undefined;
  return { family: family.join(' '), given: given.join(' ') };
}

function isAllCaps(token: string): boolean {
  return /\p{L}/u.test(token) && token === token.toUpperCase() && token !== token.toLowerCase();
}

function stripApostrophe(token: string): string {
  return token.toUpperCase().replace(/['’]$/, '');
}
