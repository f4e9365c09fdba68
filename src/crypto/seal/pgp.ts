/**
 * The two OpenPGP operations medgate/1 uses — sign-then-encrypt, and decrypt-then-verify with the
 * signer resolved through the directory — with every openpgp.js failure mapped to a CryptoError.
 */
import * as openpgp from 'openpgp';
import { CryptoError, CryptoErrorCode } from '../errors.js';

export interface ResolvedSigner {
  publicKey: openpgp.PublicKey;
  status: 'active' | 'suspended' | 'revoked';
  identity?: Record<string, unknown>;
}

/**
 * `onBehalfOf`: the signer is the message's Sender, signing for this From address (an application
 * account for one of its doctors); the lookup accepts only an application then.
 */
export type ResolveSigner = (ref: { address?: string; keyIds: string[]; onBehalfOf?: string }) => Promise<ResolvedSigner | undefined>;

export interface Verification {
  valid: true;
  /** The signer's address (the From/sender address the directory vouched for). */
  signer: string;
  /** Lower-case hex fingerprint of the signer's primary key. */
  fingerprint: string;
  identity?: Record<string, unknown>;
}

/** Keeps one key per fingerprint (the sender is often also a recipient). */
export function uniqueKeys(keys: openpgp.PublicKey[]): openpgp.PublicKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => {
    const fp = k.getFingerprint();
    if (seen.has(fp)) return false;
    seen.add(fp);
    return true;
  });
}

export async function signAndEncrypt(
  data: Uint8Array,
  signingKey: openpgp.PrivateKey,
  encryptionKeys: openpgp.PublicKey[],
  format: 'armored',
): Promise<string>;
export async function signAndEncrypt(
  data: Uint8Array,
  signingKey: openpgp.PrivateKey,
  encryptionKeys: openpgp.PublicKey[],
  format: 'binary',
): Promise<Uint8Array>;
export async function signAndEncrypt(
  data: Uint8Array,
  signingKey: openpgp.PrivateKey,
  encryptionKeys: openpgp.PublicKey[],
  format: 'armored' | 'binary',
): Promise<string | Uint8Array> {
  // Binary literal data: the signature covers the exact bytes, no line-ending canonicalisation,
  // so the opened message is byte-identical to what was signed.
  const message = await openpgp.createMessage({ binary: data, format: 'binary' });
  const keys = uniqueKeys(encryptionKeys);
  if (format === 'armored') return openpgp.encrypt({ message, encryptionKeys: keys, signingKeys: signingKey, format: 'armored' });
  return openpgp.encrypt({ message, encryptionKeys: keys, signingKeys: signingKey, format: 'binary' });
}

function keyIdsOf(key: openpgp.PrivateKey | openpgp.PublicKey): Set<string> {
  return new Set(key.getKeys().map((k) => k.getKeyID().toHex()));
}

export interface DecryptedAndVerified {
  data: Uint8Array;
  verification: Verification;
}

/**
 * Decrypts an OpenPGP message with `decryptionKey`, then resolves the signer (by the address the
 * caller extracts from the plaintext, and the issuer key IDs) and verifies the signature.
 * `what` names the object in error messages ("content", "routing header").
 */
export async function decryptAndVerify(opts: {
  encrypted: { armored: string } | { binary: Uint8Array };
  decryptionKey: openpgp.PrivateKey;
  resolveSigner: ResolveSigner;
  /** The signer's address, or the Sender signing for a From (see ResolveSigner). */
  addressOf: (plaintext: Uint8Array) => string | { address: string; onBehalfOf?: string } | undefined;
  what: string;
}): Promise<DecryptedAndVerified> {
  const { what } = opts;
  let message: openpgp.Message<Uint8Array>;
  try {
    message =
      'armored' in opts.encrypted
        ? await openpgp.readMessage({ armoredMessage: opts.encrypted.armored })
        : await openpgp.readMessage({ binaryMessage: opts.encrypted.binary });
  } catch (cause) {
    throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is not a readable OpenPGP message`, undefined, { cause });
  }

  const recipients = message.getEncryptionKeyIDs().map((id) => id.toHex());
  if (recipients.length === 0) {
    throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is not encrypted to any public key`);
  }
  const mine = keyIdsOf(opts.decryptionKey);
  const wildcard = '0000000000000000';
  if (!recipients.some((id) => mine.has(id) || id === wildcard)) {
    throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, `The ${what} is not encrypted to this key`, {
      key: opts.decryptionKey.getFingerprint(),
    });
  }

  let decrypted: Awaited<ReturnType<typeof message.decrypt>>;
  let data: Uint8Array;
  try {
    decrypted = await message.decrypt([opts.decryptionKey]);
    const literal = decrypted.getLiteralData();
    if (!(literal instanceof Uint8Array)) throw new Error('no literal data');
    data = literal;
  } catch (cause) {
    // The key matches a recipient packet, so a failure here means altered or damaged ciphertext
    // (session key unwrap failed, MDC/AEAD check failed, or the decrypted packets do not parse).
    throw new CryptoError(CryptoErrorCode.CIPHERTEXT_TAMPERED, `The ${what} could not be decrypted: it was altered or damaged`, undefined, { cause });
  }

  const issuers = decrypted.getSigningKeyIDs().map((id) => id.toHex());
  if (issuers.length === 0) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The ${what} is not signed`);

  const found = opts.addressOf(data);
  const ref = typeof found === 'string' ? { address: found } : found;
  const address = ref?.address;
  const resolved = await opts.resolveSigner(ref === undefined ? { keyIds: issuers } : { ...ref, keyIds: issuers });
  const details = { signer: address, keyIds: issuers, ...(ref?.onBehalfOf !== undefined ? { onBehalfOf: ref.onBehalfOf } : {}) };
  if (!resolved) throw new CryptoError(CryptoErrorCode.SIGNER_UNKNOWN, `The signer of the ${what} is not in the directory`, details);
  if (resolved.status !== 'active') {
    throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, `The signer of the ${what} is ${resolved.status}`, { ...details, status: resolved.status });
  }
  if (await resolved.publicKey.isRevoked()) {
    throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, `The signer's key of the ${what} is revoked`, { ...details, status: 'revoked' });
  }

  let ok = false;
  try {
    const results = await decrypted.verify([resolved.publicKey]);
    for (const r of results) {
      try {
        if (await r.verified) ok = true;
      } catch {
        // this signature was not made by the resolved key, or does not verify; try the next one
      }
    }
  } catch (cause) {
    throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The signature of the ${what} could not be checked`, details, { cause });
  }
  if (!ok) {
    throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The signature of the ${what} does not verify with the signer's key`, {
      ...details,
      expectedKey: resolved.publicKey.getFingerprint(),
    });
  }

  const fingerprint = resolved.publicKey.getFingerprint();
  const signer = address ?? (await primaryEmail(resolved.publicKey)) ?? fingerprint;
  const verification: Verification = { valid: true, signer, fingerprint };
  if (resolved.identity !== undefined) verification.identity = resolved.identity;
  return { data, verification };
}

async function primaryEmail(key: openpgp.PublicKey): Promise<string | undefined> {
  try {
    const { user } = await key.getPrimaryUser();
    return user.userID?.email || undefined;
  } catch {
    return undefined;
  }
}
