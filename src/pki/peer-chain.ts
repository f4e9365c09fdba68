import type { PeerCertificate, TLSSocket } from 'node:tls';
import { derToPem } from './pem.js';

/** The presented certificate then the intermediates the client sent (PEM bundle), or undefined. */
export function presentedChainPem(socket: TLSSocket): string | undefined {
  const leaf = socket.getPeerCertificate(true) as PeerCertificate & { issuerCertificate?: PeerCertificate };
  if (!leaf?.raw) return undefined;
  const pems = [derToPem(leaf.raw, 'CERTIFICATE')];
  const seen = new Set([leaf.fingerprint256]);
  // Node links the chain through issuerCertificate; a self-signed root points at itself.
  for (let c = leaf.issuerCertificate; c?.raw && !seen.has(c.fingerprint256); c = (c as typeof leaf).issuerCertificate) {
    seen.add(c.fingerprint256);
    pems.push(derToPem(c.raw, 'CERTIFICATE'));
  }
  return pems.join('\n');
}
