import * as x509 from '@peculiar/x509';

/**
 * What a certificate is for. `gateway` is both TLS server and TLS client: two gateways talk
 * mutual TLS, each side presenting the same identity whichever way the connection goes.
 */
export type CertificateProfile = 'tls-server' | 'tls-client' | 'user' | 'gateway';

export const CERTIFICATE_PROFILES: readonly CertificateProfile[] = ['tls-server', 'tls-client', 'user', 'gateway'];

/** Key types the test CA can generate for issued certificates. */
export type IssuedKeyType = 'ecdsa-p256' | 'rsa-2048';

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  anyExtendedKeyUsage: '2.5.29.37.0',
} as const;

/** Extended key usages written into a certificate of each profile. */
export const PROFILE_EKUS: Record<CertificateProfile, readonly string[]> = {
  'tls-server': [EKU.serverAuth],
  'tls-client': [EKU.clientAuth],
  user: [EKU.emailProtection, EKU.clientAuth],
  gateway: [EKU.serverAuth, EKU.clientAuth],
};

/**
 * Key usage bits written into a certificate. EC keys cannot encipher a key (RSA key transport);
 * their encryption use is key agreement, hence the split for `user` certificates (S/MIME).
 */
export function profileKeyUsage(profile: CertificateProfile, keyType: IssuedKeyType): x509.KeyUsageFlags {
  const sign = x509.KeyUsageFlags.digitalSignature;
  const encipher = keyType === 'rsa-2048' ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement;
  switch (profile) {
    case 'user':
      return sign | encipher;
    case 'tls-server':
    case 'gateway':
      // RSA TLS servers may still be asked for RSA key transport by old TLS 1.2 clients.
      return keyType === 'rsa-2048' ? sign | encipher : sign;
    case 'tls-client':
      return sign;
  }
}

/**
 * What a certificate must allow to be accepted for a purpose (checked by validateCertificate).
 * Every listed EKU is required; the key must allow a digital signature (TLS handshakes and mail
 * signatures both sign).
 */
export const PURPOSE_REQUIRED_EKUS: Record<CertificateProfile, readonly string[]> = {
  'tls-server': [EKU.serverAuth],
  'tls-client': [EKU.clientAuth],
  user: [EKU.emailProtection],
  gateway: [EKU.serverAuth, EKU.clientAuth],
};
