/**
 * The configured CRL files (`pki.crls`), read for a validation. Missing files are skipped — one
 * issuer's CRL may be briefly absent while an operator replaces it — but when CRLs are configured
 * and NONE can be read, revocation cannot be checked at all: callers then refuse certificates
 * (fail closed) and /healthz reports it, instead of silently validating without revocation.
 */
import fs from 'node:fs';

export interface CrlFiles {
  pems: string[];
  /** Modification times, to notice a new CRL without a restart. */
  mtimes: number[];
  /** CRLs are configured but none could be read. */
  unavailable: boolean;
}

export function readCrlFiles(files: string[]): CrlFiles {
  const pems: string[] = [];
  const mtimes: number[] = [];
  for (const file of files) {
    try {
      pems.push(fs.readFileSync(file, 'utf8'));
      mtimes.push(fs.statSync(file).mtimeMs);
    } catch {
      // skipped: see above
    }
  }
  return { pems, mtimes, unavailable: files.length > 0 && pems.length === 0 };
}

export const CRL_UNAVAILABLE_REASON = 'revocation cannot be checked: none of the configured CRL files (pki.crls) can be read';
