import fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { MedgateConfig } from '../../config/schema.js';
import { CRL_UNAVAILABLE_REASON, derToPem, readCrlFiles, validateCertificate } from '../../pki/index.js';

/** What the relay learnt about the peer from its TLS client certificate. */
export type PeerIdentity =
  | { ok: true; names: string[]; subject: string; fingerprint256: string }
  | { ok: false; reason: 'none' }
  | { ok: false; reason: 'refused'; code: string; detail: string };

/** Trust anchors and CRLs are read at each check, so that a refreshed CRL applies at once. */
function readExisting(files: string[]): string[] {
  return files.filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8'));
}

/**
 * Validates the certificate a peer presented during the handshake: chain to the configured trust
 * anchors, CRL, and the gateway purpose (serverAuth + clientAuth). TLS itself was asked not to
 * reject anything, so that the refusal reaches the peer as an SMTP reply instead of a reset.
 */
export async function identifyPeer(socket: TLSSocket, config: MedgateConfig): Promise<PeerIdentity> {
  const cert = socket.getPeerCertificate(true);
  if (!cert || !cert.raw) return { ok: false, reason: 'none' };
  const pems = [derToPem(cert.raw, 'CERTIFICATE')];
  // Intermediates the peer sent (a self-signed root is not needed: anchors come from config).
  for (let c = cert.issuerCertificate; c && c.raw && c !== c.issuerCertificate && c.fingerprint256 !== cert.fingerprint256; c = c.issuerCertificate) {
    if (c.issuer && c.subject && JSON.stringify(c.issuer) === JSON.stringify(c.subject)) break;
    pems.push(derToPem(c.raw, 'CERTIFICATE'));
  }
  const trustAnchorsPem = readExisting(config.pki.trustAnchors);
  if (!trustAnchorsPem.length) return { ok: false, reason: 'refused', code: 'untrusted', detail: 'no trust anchor configured' };
  const crls = readCrlFiles(config.pki.crls);
  if (crls.unavailable) return { ok: false, reason: 'refused', code: 'untrusted', detail: CRL_UNAVAILABLE_REASON };
  const crlsPem = crls.pems;
  const res = await validateCertificate(pems.join('\n'), {
    trustAnchorsPem, purpose: 'gateway', ...(crlsPem.length ? { crlsPem } : {}),
  });
  if (!res.ok) return { ok: false, reason: 'refused', code: res.code, detail: res.reason };
  const names = [...res.dnsNames, ...(res.commonName ? [res.commonName] : [])].map((n) => n.toLowerCase());
  return { ok: true, names, subject: res.subject, fingerprint256: res.fingerprint256 };
}

/** Whether a certificate name covers a domain (exact, or a one-label `*.` wildcard). */
export function certificateCovers(names: string[], domain: string): boolean {
  const d = domain.toLowerCase();
  return names.some((n) => n === d || (n.startsWith('*.') && d.endsWith(n.slice(1)) && !d.slice(0, -(n.length - 1)).includes('.')));
}
