import { MedgateError } from '../errors.js';

/** Stable error codes of the filing module (patients, documents, export, record requests). */
export const FilingErrorCode = {
  /** The filing data key file exists but is not a 32-byte key. */
  DATA_KEY_INVALID: 'FILING_DATA_KEY_INVALID',
  /** Encrypted identity could not be decrypted (wrong key or damaged row). */
  DATA_UNREADABLE: 'FILING_DATA_UNREADABLE',
  PATIENT_NOT_FOUND: 'FILING_PATIENT_NOT_FOUND',
  DOCUMENT_NOT_FOUND: 'FILING_DOCUMENT_NOT_FOUND',
  RECONCILE_NOT_FOUND: 'FILING_RECONCILE_NOT_FOUND',
  /** A reconciliation entry was already resolved. */
  RECONCILE_CLOSED: 'FILING_RECONCILE_CLOSED',
  /** An export folder or archive is incomplete or unreadable. */
  EXPORT_INVALID: 'FILING_EXPORT_INVALID',
  /** An encrypted archive needs a passphrase, or the passphrase is wrong. */
  PASSPHRASE_REQUIRED: 'FILING_PASSPHRASE_REQUIRED',
  /** A record request is not allowed (not the treating doctor, wrong access code...). */
  REQUEST_REFUSED: 'FILING_REQUEST_REFUSED',
  /** A sealed blob referenced by a document is missing from the store. */
  BLOB_MISSING: 'FILING_BLOB_MISSING',
  /** A portable export could not decrypt some documents' originals: nothing was written. */
  EXPORT_INCOMPLETE: 'FILING_EXPORT_INCOMPLETE',
  /** The record server account is unknown or not a record server. */
  NOT_A_RECORD_SERVER: 'FILING_NOT_A_RECORD_SERVER',
} as const;

export class FilingError extends MedgateError {}
