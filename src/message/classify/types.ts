/** Document types (RMP tabs). Documented with their rules in docs/patient-identity.md. */
export const DOCUMENT_TYPES = [
  'summary',
  'consultation-report',
  'hospital-report',
  'operative-report',
  /** Report of a diagnostic act: ECG, EFR, Holter, MAPA, endoscopy, polysomnography, EEG/EMG… (LOINC 70004-7, 47420-5). */
  'exam-report',
  /** Anatomy and cytology pathology, histology (LOINC 60568-3, 11526-1). */
  'pathology-report',
  'biology',
  'imaging',
  'prescription',
  /** Certificates and declarations (LOINC 89601-9, TRE_A05 CERT_DECL). */
  'certificate',
  'letter',
  'other',
] as const;

export type DocumentType = (typeof DOCUMENT_TYPES)[number];

export interface SenderRole {
  /** The directory's mailbox type: PER (a person), ORG (an organisation), APP (an application). */
  mailboxType?: string | null;
  professionCode?: string | null;
  specialtyCode?: string | null;
  specialtyLabel?: string | null;
}

/**
 * The author a document claims, other than its sender: the lab of an HPRIM header (line 11) or the
 * `authorPerson` of XDM metadata. A claim, as written: the record server's gateway verifies it
 * against its directory and configuration (src/filing/authors.ts).
 */
export interface AuthorClaim {
  /**
   * `smime`: a forwarded message (message/rfc822) whose S/MIME signature the sealing gateway verified
   * (its id is the signer's address); `forwarded`: a forwarded message whose signature is absent or
   * does not verify (its name is the From it shows; never verifiable).
   */
  source: 'hprim' | 'xdm' | 'smime' | 'forwarded';
  /** HPRIM lab code, the XDM author's national id (`8`+RPPS), or the verified signer's address. */
  id?: string;
  name?: string;
}

export interface ClassifiedDocument {
  /** 'body', an attachment's file name (or `attachment#n`), or an XDM entry id. */
  part: string;
  type: DocumentType;
  title?: string;
  author?: AuthorClaim;
  /** `replacement`: a summary its writer signed as a replacement (src/message/classify/replacement.ts). */
  writtenAs?: 'replacement';
}

export interface Classification {
  type: DocumentType;
  /** Which signal decided, as fixed text plus codes/keywords from medgate's own tables. */
  reason: string;
  documents: ClassifiedDocument[];
}

/** A decision and why. */
export interface Signal {
  type: DocumentType;
  reason: string;
}
