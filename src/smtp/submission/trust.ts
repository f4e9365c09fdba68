import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { validateCertificate, type CertValidation, type CertificateProfile } from '../../pki/index.js';

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

  private load(): { anchors: string[]; crls: string[] | undefined; stamp: string } {
    const anchors = this.anchorFiles.map(readIfPresent).filter((x) => !!x);
    const crls = this.crlFiles.map(readIfPresent).filter((x) => !!x);
    const stamp = [...anchors, ...crls].map((x) => x.mtimeMs).join(',');
    // No CRL file at all: revocation cannot be checked, and validateCertificate would otherwise
    // refuse every certificate as untrusted. Missing CRL files are skipped (documented).
    return { anchors: anchors.map((a) => a.text), crls: crls.length ? crls.map((c) => c.text) : undefined, stamp };
  }

  /** The trust anchors' PEM texts (for the TLS CertificateRequest CA list). */
  anchorsPem(): string[] {
    return this.load().anchors;
  }

  async validate(certPem: string, purpose: CertificateProfile): Promise<CertValidation> {
    const { anchors, crls, stamp } = this.load();
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
