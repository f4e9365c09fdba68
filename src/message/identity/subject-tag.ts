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

/** The `XDM/1.0/DDM+` prefix some clients put before an XDM message's subject (and hide). */
const XDM_PREFIX = /^\s*XDM\/1\.0\/DDM\+/i;

/**
 * A document title from a subject: without the patient tag (`PATIENT: NOM Prénom JJ/MM/AAAA`) nor the
 * XDM prefix, and without the separators left around them. The tag names the patient; the title
 * names the document (`PATIENT: DUPONT Jean 30/01/1959 Résumé médical` → `Résumé médical`). Empty
 * when nothing else was written.
 */
export function titleWithoutSubjectTag(subject: string): string {
  const m = TAG.exec(subject);
  const rest = m ? `${subject.slice(0, m.index)} ${SEP_MARK} ${subject.slice(m.index + m[0].length)}` : subject;
  return rest
    .replace(XDM_PREFIX, '')
    // Where the tag was: the separators on either side become one " - ", or nothing at an end.
    .replace(new RegExp(`[\\s${SEPARATORS}]*${SEP_MARK}[\\s${SEPARATORS}]*`, 'u'), ' - ')
    .replace(new RegExp(`^[\\s${SEPARATORS}]+|[\\s${SEPARATORS}]+$`, 'gu'), '')
    .replace(/\s{2,}/g, ' ');
}

const SEP_MARK = '\u0000';
const SEPARATORS = '\\-–—:;,|/';

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
