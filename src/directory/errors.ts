import { MedgateError } from '../errors.js';

/**
 * Stable error codes of the directory file formats (ANS extraction, domain whitelist, peer export).
 * A thrown error means the WHOLE file is refused; row-level problems are reported as `rejected`
 * items instead, so that one bad row never blocks a national import.
 */
export const DirectoryErrorCode = {
  /** The ANS extraction has no header row at all. */
  AnsEmpty: 'DIRECTORY_ANS_EMPTY',
  /** The ANS header lacks a column the import needs; `details.column` names it. */
  AnsMissingColumn: 'DIRECTORY_ANS_MISSING_COLUMN',
  /** The ANS header is not a plausible header (e.g. thousands of columns). */
  AnsMalformedHeader: 'DIRECTORY_ANS_MALFORMED_HEADER',
  /** The ANS header names the same column twice, so reading by name would be ambiguous. */
  AnsDuplicateColumn: 'DIRECTORY_ANS_DUPLICATE_COLUMN',
  /** The whitelist is not well-formed XML (or uses a forbidden construct such as a DOCTYPE). */
  WhitelistInvalidXml: 'DIRECTORY_WHITELIST_INVALID_XML',
  /** The whitelist is well-formed but holds no `Domaine/Nom` element. */
  WhitelistNoDomain: 'DIRECTORY_WHITELIST_NO_DOMAIN',
  /** A `Domaine/Nom` element is not a valid domain name; `details.domain` names it. */
  WhitelistInvalidDomain: 'DIRECTORY_WHITELIST_INVALID_DOMAIN',
  /** A peer export would carry (or carries) a private key block. */
  ExportPrivateKey: 'DIRECTORY_EXPORT_PRIVATE_KEY',
  /** Bad arguments when building an export (invalid domain, entry outside the domain...). */
  ExportInvalidInput: 'DIRECTORY_EXPORT_INVALID_INPUT',
  /** A received peer export is not JSON, or does not match the format; `details.field` names the field. */
  ExportInvalidDocument: 'DIRECTORY_EXPORT_INVALID_DOCUMENT',
  /** A received peer export has a version this gateway does not read. */
  ExportUnsupportedVersion: 'DIRECTORY_EXPORT_UNSUPPORTED_VERSION',
  /** A received peer export claims another domain than the peer it was fetched from. */
  ExportDomainMismatch: 'DIRECTORY_EXPORT_DOMAIN_MISMATCH',
} as const;

export type DirectoryErrorCode = (typeof DirectoryErrorCode)[keyof typeof DirectoryErrorCode];

/** Raised when a directory file is refused as a whole. */
export class DirectoryFormatError extends MedgateError {
  constructor(code: DirectoryErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'DirectoryFormatError';
  }
}
