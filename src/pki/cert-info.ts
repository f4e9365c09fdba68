import { createHash } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { PkiError, PkiErrorCode } from './errors.js';
import { derToPem, pemToDer } from './pem.js';
import { ensureCryptoProviders } from './provider.js';

/** The facts about a certificate the rest of the gateway needs (directory, TLS peers, audit). */
export interface CertificateInfo {
  /** Full subject DN as text, e.g. `CN=Dr Jean Martin, O=Cabinet Martin`. */
  subject: string;
  commonName: string | undefined;
  issuer: string;
  /** rfc822Name SAN entries, then any legacy subject emailAddress attribute. */
  emails: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Lowercase hex, no separators, no sign padding (same form `TestCa.issue` returns). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, uppercase hex pairs joined by `:` (the form Node's TLS reports). */
  fingerprint256: string;
  isCa: boolean;
  /** Key usage bit names (`digitalSignature`, `keyCertSign`...); empty when the extension is absent. */
  keyUsage: string[];
  /** Extended key usage OIDs; empty when the extension is absent. */
  extendedKeyUsage: string[];
}

const EMAIL_ADDRESS_OID = '1.2.840.113549.1.9.1';

/** SHA-256 fingerprint in Node's `getPeerCertificate().fingerprint256` form. */
export function fingerprint256(der: Uint8Array): string {
  const hex = createHash('sha256').update(der).digest('hex').toUpperCase();
  return (hex.match(/../g) ?? []).join(':');
}

/** Parses one certificate (PEM or DER). Throws PKI_BAD_ENCODING when it is not a certificate. */
export function parseCertificate(input: string | Uint8Array): x509.X509Certificate {
  ensureCryptoProviders();
  const der = typeof input === 'string' ? pemToDer(input, 'CERTIFICATE') : input;
  try {
    return new x509.X509Certificate(der);
  } catch (err) {
    throw new PkiError(PkiErrorCode.BadEncoding, 'data is not a valid X.509 certificate', undefined, { cause: err });
  }
}

export function keyUsageNames(flags: number): string[] {
  return Object.entries(x509.KeyUsageFlags)
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number' && (flags & entry[1]) !== 0)
    .map(([name]) => name);
}

/**
 * Parsed facts by certificate, most recent last. The submission path asks for the same directory
 * certificates on every message (S/MIME capability of each recipient, the sender's chain), and one
 * ASN.1 parse costs more than the rest of that decision: measured ≈ 8% of gateway A's main thread
 * in bench/smtp.bench.ts before this cache. Bounded; entries are copied out, never shared.
 */
const infoCache = new Map<string, CertificateInfo>();
const INFO_CACHE_MAX = 1024;

function copyInfo(i: CertificateInfo): CertificateInfo {
  return {
    ...i, emails: [...i.emails], dnsNames: [...i.dnsNames], ipAddresses: [...i.ipAddresses], keyUsage: [...i.keyUsage],
    extendedKeyUsage: [...i.extendedKeyUsage], notBefore: new Date(i.notBefore), notAfter: new Date(i.notAfter),
  };
}

export function readCertificateInfo(input: string | Uint8Array): CertificateInfo {
  const key = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('base64');
  const cached = infoCache.get(key);
  if (cached) {
    infoCache.delete(key);
    infoCache.set(key, cached);
    return copyInfo(cached);
  }
  const info = parseCertificateInfo(input);
  infoCache.set(key, info);
  if (infoCache.size > INFO_CACHE_MAX) infoCache.delete(infoCache.keys().next().value!);
  return copyInfo(info);
}

function parseCertificateInfo(input: string | Uint8Array): CertificateInfo {
  const cert = parseCertificate(input);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.items : [];
  const sanValues = (type: x509.GeneralNameType) => names.filter((n) => n.type === type).map((n) => n.value);
  const emails = [...sanValues('email')];
  for (const legacy of cert.subjectName.getField(EMAIL_ADDRESS_OID)) {
    if (!emails.includes(legacy)) emails.push(legacy);
  }
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  const extendedKeyUsage = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const basicConstraints = cert.getExtension(x509.BasicConstraintsExtension);
  return {
    subject: cert.subject,
    commonName: cert.subjectName.getField('CN')[0],
    issuer: cert.issuer,
    emails,
    dnsNames: sanValues('dns'),
    ipAddresses: sanValues('ip'),
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprint256: fingerprint256(new Uint8Array(cert.rawData)),
    isCa: basicConstraints?.ca ?? false,
    keyUsage: keyUsage ? keyUsageNames(keyUsage.usages) : [],
    extendedKeyUsage: extendedKeyUsage ? extendedKeyUsage.usages.map(String) : [],
  };
}

/** Re-encodes a certificate as canonical PEM (useful when the input was DER). */
export function certificateToPem(cert: x509.X509Certificate): string {
  return derToPem(new Uint8Array(cert.rawData), 'CERTIFICATE');
}
