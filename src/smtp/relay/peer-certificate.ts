import type { TLSSocket } from 'node:tls';
import { derToPem, type TrustStore } from '../../pki/index.js';

/** What the relay learnt about the peer from its TLS client certificate. */
export type PeerIdentity =
  | { ok: true; names: string[]; subject: string; fingerprint256: string }
  | { ok: false; reason: 'none' }
  | { ok: false; reason: 'refused'; code: string; detail: string };

/** The chain a peer presented in the handshake (leaf first, PEM), kept to be judged again at each MAIL FROM. */
export function peerChainPem(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate(true);
  if (!cert || !cert.raw) return undefined;
  const pems = [derToPem(cert.raw, 'CERTIFICATE')];
  // Intermediates the peer sent (a self-signed root is not needed: anchors come from config).
  for (let c = cert.issuerCertificate; c && c.raw && c !== c.issuerCertificate && c.fingerprint256 !== cert.fingerprint256; c = c.issuerCertificate) {
    if (c.issuer && c.subject && JSON.stringify(c.issuer) === JSON.stringify(c.subject)) break;
    pems.push(derToPem(c.raw, 'CERTIFICATE'));
  }
  return pems.join('\n');
}

/**
 * Judges a peer's certificate chain: chain to the configured trust anchors, the CURRENT CRLs, and
 * the gateway purpose (serverAuth + clientAuth). Called at the handshake and again at each MAIL
 * FROM, so that a certificate revoked while its connection stays open carries no more mail. The
 * trust store re-reads anchors and CRLs when their files change (a new CRL applies at once) and
 * otherwise reuses a verdict for a minute, so a busy connection does not pay a validation a message.
 * TLS itself was asked not to reject anything, so the refusal reaches the peer as an SMTP reply.
 */
export async function judgePeer(chainPem: string | undefined, trust: TrustStore): Promise<PeerIdentity> {
  if (!chainPem) return { ok: false, reason: 'none' };
  const res = await trust.validate(chainPem, 'gateway');
  if (!res.ok) return { ok: false, reason: 'refused', code: res.code, detail: res.reason };
  const names = [...res.dnsNames, ...(res.commonName ? [res.commonName] : [])].map((n) => n.toLowerCase());
  return { ok: true, names, subject: res.subject, fingerprint256: res.fingerprint256 };
}

/** Whether a certificate name covers a domain (exact, or a one-label `*.` wildcard). */
export function certificateCovers(names: string[], domain: string): boolean {
  const d = domain.toLowerCase();
  return names.some((n) => n === d || (n.startsWith('*.') && d.endsWith(n.slice(1)) && !d.slice(0, -(n.length - 1)).includes('.')));
}
