import { MedgateError } from '../errors.js';

/**
 * Stable error codes of the crypto module (seal/open of the medgate/1 format). They are part of the
 * documented format (docs/secure-message-format.md) and are mapped to SMTP/IMAP replies elsewhere.
 */
export const CryptoErrorCode = {
  /** The message (or its routing header) is not encrypted to the key that tried to open it. */
  NOT_FOR_THIS_KEY: 'NOT_FOR_THIS_KEY',
  /** No signature, or a signature that does not verify with the key the directory gives for the signer. */
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  /** The directory does not know the signer. */
  SIGNER_UNKNOWN: 'SIGNER_UNKNOWN',
  /** The signer's key or account is revoked or suspended. */
  SIGNER_REVOKED: 'SIGNER_REVOKED',
  /**
   * The signer's certificate cannot be checked for revocation now (no current CRL for its issuer):
   * temporary, not a verdict on the signature (the relay answers 4xx, the peer retries).
   */
  SIGNER_UNCHECKED: 'SIGNER_UNCHECKED',
  /** Decryption failed although the key matches: the ciphertext was altered or damaged. */
  CIPHERTEXT_TAMPERED: 'CIPHERTEXT_TAMPERED',
  /** The bytes are not a medgate/1 message (MIME tree, armor or OpenPGP packets unreadable). */
  MALFORMED_STRUCTURE: 'MALFORMED_STRUCTURE',
  /** The routing header does not belong to this content (digest or signer differ). */
  ROUTING_CONTENT_MISMATCH: 'ROUTING_CONTENT_MISMATCH',
  /** The message carries no routing header. */
  ROUTING_MISSING: 'ROUTING_MISSING',
} as const;

export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** Error raised by seal/open. `message` never contains message content or patient data. */
export class CryptoError extends MedgateError {
  override readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'CryptoError';
    this.code = code;
  }
}

export function isCryptoError(err: unknown, code?: CryptoErrorCode): err is CryptoError {
  return err instanceof CryptoError && (code === undefined || err.code === code);
}
