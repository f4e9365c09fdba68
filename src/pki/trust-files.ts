import fs from 'node:fs';
import { CRL_UNAVAILABLE_REASON, readCrlFiles } from './crl-files.js';
import { PkiError, PkiErrorCode } from './errors.js';

/** What a certificate is judged against: the configured anchors and CRLs, as PEM texts. */
export interface TrustMaterial {
  anchorsPem: string[];
  crlsPem: string[];
}

/**
 * The health PKI trust anchors and CRLs (`pki.trustAnchors`, `pki.crls`), read at each call so a
 * refreshed CRL applies at once — for peer TLS certificates and S/MIME signers alike. Fails closed:
 * no anchor, or CRLs configured and none readable, is an error rather than a check without them.
 */
export function readTrustFiles(anchorFiles: string[], crlFiles: string[]): TrustMaterial {
  const anchorsPem = anchorFiles.filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8'));
  if (!anchorsPem.length) throw new PkiError(PkiErrorCode.TrustUnavailable, 'no trust anchor configured (pki.trustAnchors)');
  const crls = readCrlFiles(crlFiles);
  if (crls.unavailable) throw new PkiError(PkiErrorCode.TrustUnavailable, CRL_UNAVAILABLE_REASON);
  return { anchorsPem, crlsPem: crls.pems };
}
