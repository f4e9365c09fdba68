import { readCertificateInfo } from './cert-info.js';
import { EKU } from './profiles.js';

/**
 * Whether a certificate can be sealed to as S/MIME for `address` (RFC 8550 §4.4): it names the
 * address (email SAN), allows email protection (or has no EKU), allows key encipherment (RSA) or
 * key agreement (EC) — or has no key usage restriction — and is within its validity period. Chain
 * and revocation are checked where the certificate is trusted (directory import, opening); this
 * only says whether the certificate is meant for encryption to that mailbox. Unreadable: false.
 */
export function isSmimeEncryptionCertificate(pem: string, address: string, at: Date = new Date()): boolean {
  let info;
  try {
    info = readCertificateInfo(pem);
  } catch {
    return false;
  }
  const want = address.trim().toLowerCase();
  if (!info.emails.some((e) => e.toLowerCase() === want)) return false;
  if (info.extendedKeyUsage.length && !info.extendedKeyUsage.some((u) => u === EKU.emailProtection || u === EKU.anyExtendedKeyUsage)) return false;
  if (info.keyUsage.length && !info.keyUsage.some((u) => u === 'keyAgreement' || u === 'keyEncipherment')) return false;
  return info.notBefore <= at && at <= info.notAfter;
}
