/**
 * Explicit patient header fields set by practice software (defined by medgate, see
 * docs/patient-identity.md). Any present-but-invalid field refuses the whole source: software that
 * bothers to send structured fields must send them right, and a half-read identity is worse than none.
 */
import { isPlausibleBirthDate, parseFrenchDate, parseIsoDate } from './dates.js';
import { DEFAULT_INS_OID, parseInsCx } from './ins.js';
import { isPlausibleName } from './names.js';
import type { PatientIdentity, RejectedSource } from './types.js';

export const PATIENT_HEADER = {
  familyName: 'x-medgate-patient-nom',
  givenName: 'x-medgate-patient-prenom',
  birthDate: 'x-medgate-patient-naissance',
  sex: 'x-medgate-patient-sexe',
  ins: 'x-medgate-patient-ins',
} as const;

/** MSSanté `X-MSS-INS: O|N` — says a qualified INS travels in the XDM metadata; carries no identity. */
export const MSS_INS_HEADER = 'x-mss-ins';

export type HeaderResult = { identity: PatientIdentity } | { rejected: RejectedSource } | undefined;

export function readPatientHeaders(headers: Map<string, string>, now?: Date): HeaderResult {
  const get = (name: string): string | undefined => {
    const v = headers.get(name);
    return v === undefined ? undefined : v.trim();
  };
  const values = Object.values(PATIENT_HEADER).map(get);
  if (values.every((v) => v === undefined)) return undefined;
  const reject = (reason: string): HeaderResult => ({ rejected: { source: 'header', reason } });

  const familyName = get(PATIENT_HEADER.familyName) ?? '';
  const givenName = get(PATIENT_HEADER.givenName) ?? '';
  const birthText = get(PATIENT_HEADER.birthDate) ?? '';
  if (!isPlausibleName(familyName, 100)) return reject('X-Medgate-Patient-Nom is missing or invalid');
  if (!isPlausibleName(givenName, 100)) return reject('X-Medgate-Patient-Prenom is missing or invalid');
  const birthDate = /^\d{4}-/.test(birthText) ? parseIsoDate(birthText) : parseFrenchDate(birthText);
  if (!birthDate || !isPlausibleBirthDate(birthDate, now)) {
    return reject('X-Medgate-Patient-Naissance is missing or not a real date');
  }
  const identity: PatientIdentity = { source: 'header', familyName, givenName, birthDate };

  const sexText = get(PATIENT_HEADER.sex);
  if (sexText !== undefined) {
    const sex = sexText.toUpperCase();
    if (sex !== 'M' && sex !== 'F' && sex !== 'U') return reject('X-Medgate-Patient-Sexe must be M, F or U');
    identity.sex = sex;
  }
  const insText = get(PATIENT_HEADER.ins);
  if (insText !== undefined) {
    const ins = parseInsCx(insText, DEFAULT_INS_OID);
    if (!ins) return reject('X-Medgate-Patient-INS is not a valid INS matricule/OID');
    identity.ins = ins;
  }
  return { identity };
}

/** `true` for `O`, `false` for `N`, undefined when absent or unreadable. */
export function readMssInsFlag(headers: Map<string, string>): boolean | undefined {
  const v = headers.get(MSS_INS_HEADER)?.trim().toUpperCase();
  return v === 'O' ? true : v === 'N' ? false : undefined;
}
