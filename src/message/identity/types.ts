/** Where an identity was read from, most trusted first (see docs/patient-identity.md). */
export type PatientSource = 'xdm' | 'header' | 'hprim' | 'subject';

export const SOURCE_TRUST_ORDER: readonly PatientSource[] = ['xdm', 'header', 'hprim', 'subject'];

export type InsKind = 'NIR' | 'NIA' | 'test' | 'demo';

export interface InsIdentifier {
  /** Matricule: 13 characters + 2-digit key. */
  value: string;
  oid: string;
  kind: InsKind;
}

export interface PatientIdentity {
  source: PatientSource;
  /** As written by the sender (display); compare with normalizeName / patientKey. */
  familyName: string;
  givenName: string;
  /** YYYY-MM-DD, a real calendar date, not in the future. */
  birthDate: string;
  sex?: 'M' | 'F' | 'U';
  ins?: InsIdentifier;
  /** Social security number as given by an HPRIM header (may be the insured person's, not the patient's). */
  nir?: string;
}

export interface IdentityConflict {
  field: 'familyName' | 'givenName' | 'birthDate' | 'sex' | 'ins';
  /** Source labels: the source name, suffixed `#n` when one source gave several identities. */
  sources: string[];
}

/** A source that was present but refused; `reason` is fixed text, never patient data. */
export interface RejectedSource {
  source: PatientSource;
  reason: string;
}
