/**
 * Revocation of the certificates a PEER GATEWAY presents when this gateway delivers to it. Node's
 * TLS checks the chain and our code the name, but TLS has no CRL of IGC-Santé: without this, a
 * revoked gateway certificate would still receive mail.
 *
 * TLS asks the question synchronously (checkServerIdentity), so the CRL files are read, verified
 * against the trust anchors (signature, current: nextUpdate not passed) and indexed beforehand, by
 * `refresh()` before each delivery (cheap when nothing changed). Fail closed: CRLs configured but
 * none usable means every peer is refused, as on the inbound side (crl-files.ts).
 */
import fs from 'node:fs';
import * as x509 from '@peculiar/x509';
import { readCrlFiles } from './crl-files.js';
import { splitPemBlocks } from './pem.js';
import { ensureCryptoProviders } from './provider.js';

export type RevocationVerdict = { ok: true } | { ok: false; reason: string };

function key(issuer: string, serialHex: string): string {
  return `${issuer}|${serialHex.toLowerCase().replace(/^0+/, '')}`;
}

export class RevocationIndex {
  private stamp: string | undefined;
  private revoked = new Set<string>();
  /** Issuers with a current, verified CRL: a certificate from any other issuer cannot be checked. */
  private covered = new Set<string>();
  private configured = false;
  private contents = '';
  private gen = 0;

  constructor(private readonly crlFiles: string[], private readonly anchorFiles: string[]) {}

  async refresh(now = new Date()): Promise<void> {
    const crls = readCrlFiles(this.crlFiles);
    const stamp = `${crls.mtimes.join(',')}|${this.anchorFiles.map((f) => { try { return fs.statSync(f).mtimeMs; } catch { return 0; } }).join(',')}|${now.toISOString().slice(0, 13)}`;
    if (stamp === this.stamp) return;
    ensureCryptoProviders();
    const anchors = this.anchorFiles.flatMap((f) => {
      try {
        return splitPemBlocks(fs.readFileSync(f, 'utf8')).filter((b) => b.label === 'CERTIFICATE').map((b) => new x509.X509Certificate(b.der));
      } catch {
        return [];
      }
    });
    const revoked = new Set<string>();
    const covered = new Set<string>();
    for (const pem of crls.pems) {
      for (const block of splitPemBlocks(pem).filter((b) => b.label === 'X509 CRL')) {
        let crl: x509.X509Crl;
        try {
          crl = new x509.X509Crl(block.der);
        } catch {
          continue; // unreadable: as if absent
        }
        if (crl.nextUpdate && crl.nextUpdate < now) continue; // stale: not current revocation information
        const issuer = anchors.find((a) => a.subject === crl.issuer);
        if (!issuer || !(await crl.verify({ publicKey: issuer.publicKey }).catch(() => false))) continue;
        covered.add(crl.issuer);
        for (const entry of crl.entries) revoked.add(key(crl.issuer, entry.serialNumber));
      }
    }
    const contents = JSON.stringify([[...revoked].sort(), [...covered].sort(), this.crlFiles.length > 0]);
    if (contents !== this.contents) this.gen++;
    this.contents = contents;
    this.revoked = revoked;
    this.covered = covered;
    this.configured = this.crlFiles.length > 0;
    this.stamp = stamp;
  }

  /**
   * Changes whenever what the index says changes (a certificate revoked, a CRL gone stale): a TLS
   * connection verified under an older generation must not carry more mail.
   */
  get generation(): number {
    return this.gen;
  }

  /** The peer's chain as TLS gives it (leaf first, raw DER): any member revoked, or not checkable, refuses. */
  check(chainDer: Buffer[]): RevocationVerdict {
    if (!this.configured) return { ok: true }; // no CRL configured: revocation is not checked (documented)
    for (const der of chainDer) {
      let cert: x509.X509Certificate;
      try {
        cert = new x509.X509Certificate(der);
      } catch {
        return { ok: false, reason: 'the peer certificate cannot be parsed' };
      }
      if (cert.subject === cert.issuer) continue; // a root: trusted as an anchor, never on a CRL
      if (!this.covered.has(cert.issuer)) return { ok: false, reason: 'revocation cannot be checked: no current CRL from the peer certificate\'s issuer' };
      if (this.revoked.has(key(cert.issuer, cert.serialNumber))) return { ok: false, reason: 'the peer gateway certificate is revoked' };
    }
    return { ok: true };
  }
}
