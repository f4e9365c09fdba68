import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readCrlFiles, CRL_UNAVAILABLE_REASON } from './crl-files.js';
import type { CertificateProfile } from './profiles.js';
import { validateCertificate, type CertValidation } from './validate.js';

/** How long a validation result is reused; a new CRL file (changed mtime) invalidates it at once. */
const CACHE_MS = 60_000;

function readIfPresent(file: string): { text: string; mtimeMs: number } | undefined {
  try {
    return { text: fs.readFileSync(file, 'utf8'), mtimeMs: fs.statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * The configured trust anchors and CRLs, re-read when their files change (an operator drops in the
 * latest CRL without a restart), and certificate validation against them with a short result cache
 * so a busy sender does not pay a chain validation on every MAIL FROM.
 */
export class TrustStore {
  private readonly cache = new Map<string, { at: number; result: CertValidation }>();

  constructor(private readonly anchorFiles: string[], private readonly crlFiles: string[]) {}

  private load(): { anchors: string[]; crls: string[] | undefined; crlsUnavailable: boolean; stamp: string } {
    const anchors = this.anchorFiles.map(readIfPresent).filter((x) => !!x);
    const crls = readCrlFiles(this.crlFiles);
    const stamp = [...anchors.map((x) => x.mtimeMs), ...crls.mtimes].join(',');
    // No CRL configured: revocation is not checked (documented). Configured but none readable:
    // fail closed (validate refuses) rather than validate without revocation.
    return { anchors: anchors.map((a) => a.text), crls: crls.pems.length ? crls.pems : undefined, crlsUnavailable: crls.unavailable, stamp };
  }

  /** The trust anchors' PEM texts (for the TLS CertificateRequest CA list). */
  anchorsPem(): string[] {
    return this.load().anchors;
  }

  async validate(certPem: string, purpose: CertificateProfile): Promise<CertValidation> {
    const { anchors, crls, crlsUnavailable, stamp } = this.load();
    if (crlsUnavailable) return { ok: false, code: 'revocation-unavailable', reason: CRL_UNAVAILABLE_REASON };
    const key = createHash('sha256').update(purpose).update('\0').update(stamp).update('\0').update(certPem).digest('hex');
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < CACHE_MS) return hit.result;
    const result = await validateCertificate(certPem, { trustAnchorsPem: anchors, crlsPem: crls, purpose });
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { at: now, result });
    return result;
  }
}
