/**
 * The CMS operations S/MIME needs (RFC 5652), all through pkijs on Node's WebCrypto: SignedData with
 * signed attributes (sign, verify with the signer certificate found in the structure), and
 * EnvelopedData with AES-256-CBC content encryption, RSA-OAEP key transport or ECDH key agreement as
 * each recipient's certificate allows. No ASN.1 is built here by hand: pkijs/asn1js objects only.
 * Every failure is mapped to a CryptoError.
 */
import { constants as cryptoConstants, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, privateDecrypt, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { pemToDer } from '../../pki/pem.js';
import { ensureCryptoProviders } from '../../pki/provider.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { secretKey } from '../secret-key.js';

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  authEnvelopedData: '1.2.840.113549.1.9.16.1.23',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

function ab(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

function malformed(what: string, cause?: unknown): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is not a readable CMS structure`, undefined, cause ? { cause } : undefined);
}

export function parseCertificateDer(der: Uint8Array): pkijs.Certificate {
  return pkijs.Certificate.fromBER(ab(der));
}

export function certificateFromPem(pem: string): pkijs.Certificate {
  ensureCryptoProviders();
  return parseCertificateDer(pemToDer(pem, 'CERTIFICATE'));
}

/** Imports a PKCS#8 PEM key for signing (ECDSA P-256/P-384 or RSA PKCS#1 v1.5). */
async function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  const keyObject = createPrivateKey({ key: keyPem, format: 'pem' });
  const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
  if (keyObject.asymmetricKeyType === 'ec') {
    const curve = keyObject.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
    if (!namedCurve) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `unsupported signing curve ${String(curve)}`);
    return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']);
  }
  if (keyObject.asymmetricKeyType === 'rsa') {
    return webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  }
  throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `unsupported signing key type ${String(keyObject.asymmetricKeyType)}`);
}

function contentInfo(contentType: string, content: { toSchema(): asn1js.BaseBlock }): Uint8Array {
  return new Uint8Array(new pkijs.ContentInfo({ contentType, content: content.toSchema() }).toSchema().toBER(false));
}

/**
 * SignedData over `content`: one signer (issuerAndSerialNumber), SHA-256, signed attributes
 * contentType, messageDigest and signingTime, the signer's certificate (and `chainPem`) included.
 * `detached`: the content is left out (multipart/signed); else it is encapsulated (opaque).
 */
export async function signContent(content: Uint8Array, signer: { certPem: string; keyPem: string; chainPem?: string[] }, detached = false): Promise<Uint8Array> {
  ensureCryptoProviders();
  const cert = certificateFromPem(signer.certPem);
  const key = await importSigningKey(signer.keyPem);
  const digest = createHash('sha256').update(content).digest();
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({
    type: 0,
    attributes: [
      new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.data })] }),
      new pkijs.Attribute({ type: OID.signingTime, values: [new asn1js.UTCTime({ valueDate: new Date() })] }),
      new pkijs.Attribute({ type: OID.messageDigest, values: [new asn1js.OctetString({ valueHex: ab(digest) })] }),
    ],
  });
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.data }),
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
        signedAttrs,
      }),
    ],
    certificates: [cert, ...(signer.chainPem ?? []).map(certificateFromPem)],
  });
  if (!detached) signed.encapContentInfo.eContent = new asn1js.OctetString({ valueHex: ab(content) });
  await signed.sign(key, 0, 'SHA-256', ab(content));
  return contentInfo(OID.signedData, signed);
}

/** EnvelopedData of `content` to every certificate: AES-256-CBC; RSA-OAEP (SHA-256) or ECDH (SHA-256 KDF, AES-256 key wrap). */
export async function envelopContent(content: Uint8Array, recipientCertPems: string[]): Promise<Uint8Array> {
  ensureCryptoProviders();
  if (recipientCertPems.length === 0) throw new Error('envelopContent: at least one recipient certificate is required');
  const env = new pkijs.EnvelopedData();
  for (const pem of recipientCertPems) {
    env.addRecipientByCertificate(certificateFromPem(pem), { oaepHashAlgorithm: 'SHA-256', kdfAlgorithm: 'SHA-256', kekEncryptionLength: 256 });
  }
  await env.encrypt({ name: 'AES-CBC', length: 256 } as Parameters<pkijs.EnvelopedData['encrypt']>[0], ab(content));
  return contentInfo(OID.envelopedData, env);
}

export type CmsKind = 'signed' | 'enveloped';

export function readContentInfo(der: Uint8Array, what: string): { kind: CmsKind; content: asn1js.BaseBlock } {
  ensureCryptoProviders();
  let info: pkijs.ContentInfo;
  try {
    info = pkijs.ContentInfo.fromBER(ab(der));
  } catch (cause) {
    throw malformed(what, cause);
  }
  if (info.contentType === OID.signedData) return { kind: 'signed', content: info.content };
  if (info.contentType === OID.envelopedData) return { kind: 'enveloped', content: info.content };
  if (info.contentType === OID.authEnvelopedData) {
    throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} uses AuthEnvelopedData (AES-GCM), which medgate does not open yet`);
  }
  throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is CMS content of type ${info.contentType}, neither signed nor enveloped`);
}

function sameIssuerSerial(a: pkijs.IssuerAndSerialNumber, cert: pkijs.Certificate): boolean {
  return a.issuer.isEqual(cert.issuer) && a.serialNumber.isEqual(cert.serialNumber);
}

/** The RecipientInfo (and, for key agreement, the encrypted key) addressed to `cert`, by issuerAndSerialNumber or subjectKeyIdentifier. */
function recipientIndex(env: pkijs.EnvelopedData, cert: pkijs.Certificate): { info: number; key: number } | undefined {
  const skiHex = skiOf(cert);
  const matches = (rid: unknown): boolean => {
    if (rid instanceof pkijs.IssuerAndSerialNumber) return sameIssuerSerial(rid, cert);
    if (rid instanceof asn1js.OctetString) return skiHex !== undefined && hex(rid.valueBlock.valueHexView) === skiHex;
    return false;
  };
  for (let info = 0; info < env.recipientInfos.length; info++) {
    const ri = env.recipientInfos[info]!.value;
    if (ri instanceof pkijs.KeyTransRecipientInfo && matches(ri.rid)) return { info, key: 0 };
    if (ri instanceof pkijs.KeyAgreeRecipientInfo) {
      const key = ri.recipientEncryptedKeys.encryptedKeys.findIndex((k) =>
        k.rid.variant === 1 ? matches(k.rid.value) : k.rid.variant === 2 && matches((k.rid.value as pkijs.RecipientKeyIdentifier).subjectKeyIdentifier));
      if (key !== -1) return { info, key };
    }
  }
  return undefined;
}

const KDF_HASH: Record<string, string> = {
  '1.3.133.16.840.63.0.2': 'sha1',
  '1.3.132.1.11.0': 'sha224',
  '1.3.132.1.11.1': 'sha256',
  '1.3.132.1.11.2': 'sha384',
  '1.3.132.1.11.3': 'sha512',
};
const KEY_WRAP: Record<string, { cipher: string; bits: number }> = {
  '2.16.840.1.101.3.4.1.5': { cipher: 'id-aes128-wrap', bits: 128 },
  '2.16.840.1.101.3.4.1.25': { cipher: 'id-aes192-wrap', bits: 192 },
  '2.16.840.1.101.3.4.1.45': { cipher: 'id-aes256-wrap', bits: 256 },
};
const CONTENT_CIPHER: Record<string, string> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc',
  '2.16.840.1.101.3.4.1.22': 'aes-192-cbc',
  '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
};
const HASH_OID: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

function unsupported(what: string, algorithm: string): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} uses an algorithm medgate does not open (${algorithm})`, { algorithm });
}

/**
 * The content-encryption key from a KeyAgreeRecipientInfo (RFC 5753 ECDH, stdDH): Z by ECDH of the
 * recipient key and the originator's ephemeral key, ANSI X9.63 KDF over the ECC-CMS-SharedInfo
 * (pkijs object), AES key unwrap. Done with Node's crypto: pkijs' own path fails on what OpenSSL
 * writes (originator key without curve parameters, no ukm).
 */
function unwrapKeyAgree(kari: pkijs.KeyAgreeRecipientInfo, keyIndex: number, curveOid: string, keyPem: string, what: string): Buffer {
  const kdfHash = KDF_HASH[kari.keyEncryptionAlgorithm.algorithmId];
  if (!kdfHash) throw unsupported(what, kari.keyEncryptionAlgorithm.algorithmId);
  const wrapAlg = new pkijs.AlgorithmIdentifier({ schema: kari.keyEncryptionAlgorithm.algorithmParams });
  const wrap = KEY_WRAP[wrapAlg.algorithmId];
  if (!wrap) throw unsupported(what, wrapAlg.algorithmId);
  if (kari.originator.variant !== 3) throw unsupported(what, 'originator identified by certificate');
  const originator = kari.originator.value as pkijs.OriginatorPublicKey;
  if (!('algorithmParams' in originator.algorithm) || originator.algorithm.algorithmParams === undefined) {
    originator.algorithm.algorithmParams = new asn1js.ObjectIdentifier({ value: curveOid });
  }
  const ephemeral = createPublicKey({ key: Buffer.from(originator.toSchema().toBER(false)), format: 'der', type: 'spki' });
  const z = diffieHellman({ privateKey: createPrivateKey({ key: keyPem, format: 'pem' }), publicKey: ephemeral });
  const supp = new Uint8Array(4);
  new DataView(supp.buffer).setUint32(0, wrap.bits);
  const sharedInfo = new pkijs.ECCCMSSharedInfo({
    keyInfo: wrapAlg,
    ...(kari.ukm ? { entityUInfo: kari.ukm } : {}),
    suppPubInfo: new asn1js.OctetString({ valueHex: supp.buffer }),
  });
  const info = Buffer.from(sharedInfo.toSchema().toBER(false));
  const blocks: Buffer[] = [];
  for (let counter = 1; Buffer.concat(blocks).length * 8 < wrap.bits; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    blocks.push(createHash(kdfHash).update(z).update(c).update(info).digest());
  }
  const kek = Buffer.concat(blocks).subarray(0, wrap.bits / 8);
  const wrapped = Buffer.from(kari.recipientEncryptedKeys.encryptedKeys[keyIndex]!.encryptedKey.valueBlock.valueHexView);
  const d = createDecipheriv(wrap.cipher, secretKey(kek), Buffer.from('A6A6A6A6A6A6A6A6', 'hex'));
  return Buffer.concat([d.update(wrapped), d.final()]);
}

/** The content-encryption key from a KeyTransRecipientInfo: RSA-OAEP only (PKCS#1 v1.5 is refused, as Node 20 does). */
function unwrapKeyTrans(ktri: pkijs.KeyTransRecipientInfo, keyPem: string, what: string): Buffer {
  const alg = ktri.keyEncryptionAlgorithm.algorithmId;
  if (alg !== '1.2.840.113549.1.1.7') throw unsupported(what, alg === '1.2.840.113549.1.1.1' ? 'RSA PKCS#1 v1.5 key transport' : alg);
  const params = ktri.keyEncryptionAlgorithm.algorithmParams
    ? new pkijs.RSAESOAEPParams({ schema: ktri.keyEncryptionAlgorithm.algorithmParams })
    : new pkijs.RSAESOAEPParams();
  const oaepHash = HASH_OID[params.hashAlgorithm.algorithmId];
  if (!oaepHash) throw unsupported(what, params.hashAlgorithm.algorithmId);
  return privateDecrypt(
    { key: createPrivateKey({ key: keyPem, format: 'pem' }), padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING, oaepHash },
    Buffer.from(ktri.encryptedKey.valueBlock.valueHexView),
  );
}

/** Decrypts EnvelopedData (AES-CBC content) with the recipient's certificate and PKCS#8 key. */
export async function openEnveloped(content: asn1js.BaseBlock, recipient: { certPem: string; keyPem: string }, what: string): Promise<Uint8Array> {
  let env: pkijs.EnvelopedData;
  try {
    env = new pkijs.EnvelopedData({ schema: content });
  } catch (cause) {
    throw malformed(what, cause);
  }
  const cert = certificateFromPem(recipient.certPem);
  const found = recipientIndex(env, cert);
  if (!found) {
    throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, `The ${what} is not encrypted to this certificate`, { serial: hex(cert.serialNumber.valueBlock.valueHexView) });
  }
  const eci = env.encryptedContentInfo;
  const cipher = CONTENT_CIPHER[eci.contentEncryptionAlgorithm.algorithmId];
  if (!cipher) throw unsupported(what, eci.contentEncryptionAlgorithm.algorithmId);
  const curve = cert.subjectPublicKeyInfo.algorithm.algorithmParams;
  try {
    const ri = env.recipientInfos[found.info]!.value;
    const cek = ri instanceof pkijs.KeyAgreeRecipientInfo
      ? unwrapKeyAgree(ri, found.key, curve instanceof asn1js.ObjectIdentifier ? curve.valueBlock.toString() : '', recipient.keyPem, what)
      : unwrapKeyTrans(ri as pkijs.KeyTransRecipientInfo, recipient.keyPem, what);
    const iv = Buffer.from((eci.contentEncryptionAlgorithm.algorithmParams as asn1js.OctetString).valueBlock.valueHexView);
    const d = createDecipheriv(cipher, secretKey(cek), iv);
    return Buffer.concat([d.update(Buffer.from(eci.getEncryptedContent())), d.final()]);
  } catch (cause) {
    if (cause instanceof CryptoError) throw cause;
    throw new CryptoError(CryptoErrorCode.CIPHERTEXT_TAMPERED, `The ${what} could not be decrypted: it was altered or damaged`, undefined, { cause });
  }
}

export interface SignedContent {
  /** The encapsulated content, or the detached content given. */
  content: Uint8Array;
  /** DER of the signer's certificate, then the other certificates carried (chain candidates). */
  signerCertDer: Uint8Array;
  otherCertsDer: Uint8Array[];
}

/**
 * Verifies the (first) SignerInfo of a SignedData with the certificate it names, found among the
 * structure's certificates. Chain and revocation are the caller's (validateCertificate); this only
 * proves the signature over the content and the signed attributes.
 */
export async function verifySigned(content: asn1js.BaseBlock, detachedContent: Uint8Array | undefined, what: string): Promise<SignedContent> {
  let signed: pkijs.SignedData;
  try {
    signed = new pkijs.SignedData({ schema: content });
  } catch (cause) {
    throw malformed(what, cause);
  }
  if (signed.signerInfos.length === 0) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The ${what} carries no signature`);
  let data: Uint8Array;
  if (detachedContent) data = detachedContent;
  else {
    const e = signed.encapContentInfo.eContent;
    if (!e) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is a detached signature without its content`);
    // Constructed (BER, chunked) OCTET STRINGs are joined by asn1js into valueHexView? Not always: collect the pieces.
    data = octets(e);
  }
  const sid = signed.signerInfos[0]!.sid;
  const certs = (signed.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  const signerCert = certs.find((c) => (sid instanceof pkijs.IssuerAndSerialNumber ? sameIssuerSerial(sid, c) : skiOf(c) === hex((sid as asn1js.OctetString).valueBlock.valueHexView)));
  if (!signerCert) throw new CryptoError(CryptoErrorCode.SIGNER_UNKNOWN, `The ${what} does not carry its signer's certificate`);
  let ok = false;
  try {
    const res = await signed.verify({ signer: 0, data: ab(data), checkChain: false, extendedMode: true });
    ok = res.signatureVerified === true;
  } catch (cause) {
    const r = cause as { signatureVerified?: boolean | null; message?: string };
    if (r && typeof r === 'object' && 'signatureVerified' in r) ok = false;
    else throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The signature of the ${what} could not be checked`, undefined, { cause });
  }
  if (!ok) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The signature of the ${what} does not verify with the signer's certificate`);
  const der = (c: pkijs.Certificate) => new Uint8Array(c.toSchema().toBER(false));
  return { content: data, signerCertDer: der(signerCert), otherCertsDer: certs.filter((c) => c !== signerCert).map(der) };
}

function hex(u: Uint8Array): string {
  return Buffer.from(u).toString('hex');
}

function skiOf(c: pkijs.Certificate): string | undefined {
  const ski = c.extensions?.find((e) => e.extnID === '2.5.29.14')?.parsedValue as asn1js.OctetString | undefined;
  return ski ? hex(ski.valueBlock.valueHexView) : undefined;
}

function octets(o: asn1js.OctetString): Uint8Array {
  if (!o.valueBlock.isConstructed) return new Uint8Array(o.valueBlock.valueHexView);
  return Buffer.concat((o.valueBlock.value as asn1js.OctetString[]).map(octets));
}
