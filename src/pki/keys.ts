import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { PkiError, PkiErrorCode } from './errors.js';
import { derToPem, pemToDer } from './pem.js';
import type { IssuedKeyType } from './profiles.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** The algorithm a CA signs with (certificates and CRLs), derived from its key. */
export type SigningAlgorithm = { name: 'ECDSA'; hash: 'SHA-256' | 'SHA-384' } | { name: 'RSASSA-PKCS1-v1_5' };

export function generateKeyPair(keyType: IssuedKeyType): Promise<CryptoKeyPair> {
  const subtle = webcrypto.subtle;
  if (keyType === 'rsa-2048') {
    return subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
  }
  return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
}

/** PKCS#8 PEM (`BEGIN PRIVATE KEY`), which OpenSSL and Node's TLS read for both EC and RSA. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return derToPem(new Uint8Array(der), 'PRIVATE KEY');
}

export interface LoadedSigningKey {
  key: CryptoKey;
  algorithm: SigningAlgorithm;
  /** SubjectPublicKeyInfo DER of the matching public key, to check it against the CA certificate. */
  spki: Uint8Array;
}

/** Imports a PKCS#8 PEM private key (EC P-256/P-384 or RSA) for signing certificates and CRLs. */
export async function importSigningKey(pem: string, path: string): Promise<LoadedSigningKey> {
  let keyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new PkiError(PkiErrorCode.CaCorrupt, `CA private key ${path} cannot be read`, { path }, { cause: err });
  }
  const spki = new Uint8Array(createPublicKey(keyObject).export({ type: 'spki', format: 'der' }));
  const pkcs8 = pemToDer(keyObject.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PRIVATE KEY');
  const subtle = webcrypto.subtle;
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!namedCurve) {
      throw new PkiError(PkiErrorCode.CaCorrupt, `CA private key ${path} uses an unsupported curve`, { path, curve });
    }
    const key = await subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']);
    return { key, spki, algorithm: { name: 'ECDSA', hash: namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384' } };
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    const key = await subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
    return { key, spki, algorithm: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new PkiError(PkiErrorCode.CaCorrupt, `CA private key ${path} is neither EC nor RSA`, {
    path,
    type: keyObject.asymmetricKeyType,
  });
}
