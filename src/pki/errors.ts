import { MedgateError } from '../errors.js';

/** Stable error codes of the pki module (documented for operators, asserted in tests). */
export const PkiErrorCode = {
  /** `createTestCa` found a CA already in the target folder and `force` was not given. */
  CaExists: 'PKI_CA_EXISTS',
  /** `loadTestCa` found no CA in the folder. */
  CaMissing: 'PKI_CA_MISSING',
  /** The CA folder exists but a file in it cannot be read or parsed. */
  CaCorrupt: 'PKI_CA_CORRUPT',
  /** An issue request is incomplete or contradictory (no name, notAfter before notBefore...). */
  BadRequest: 'PKI_BAD_REQUEST',
  /** `revoke` was given a serial number this CA never issued. */
  UnknownSerial: 'PKI_UNKNOWN_SERIAL',
  /** A PEM or DER input (certificate, CRL, trust anchor) cannot be decoded. */
  BadEncoding: 'PKI_BAD_ENCODING',
  /** No trust anchor is configured, or CRLs are configured and none can be read: nothing can be trusted. */
  TrustUnavailable: 'PKI_TRUST_UNAVAILABLE',
} as const;

export type PkiErrorCode = (typeof PkiErrorCode)[keyof typeof PkiErrorCode];

export class PkiError extends MedgateError {
  constructor(code: PkiErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'PkiError';
  }
}
