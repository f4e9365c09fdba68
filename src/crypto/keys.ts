import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import * as openpgp from 'openpgp';
import { MedgateError } from '../errors.js';
import { decryptKeyNativeArgon2 } from './native-argon2.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const CREDENTIALS_WRONG = 'CREDENTIALS_WRONG';

/** The one message a wrong password ever gets: nothing about which part was wrong. */
export function wrongCredentials(): MedgateError {
  return new MedgateError(CREDENTIALS_WRONG, 'the credentials are wrong');
}

export interface GeneratedKey {
  privateKey: openpgp.PrivateKey;
  publicKeyArmored: string;
  fingerprint: string;
}

/** A v4 Curve25519 key (EdDSA signing + ECDH encryption subkey): read by openpgp.js and GnuPG 2.2+. */
export async function generatePgpKey(name: string, email: string): Promise<GeneratedKey> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name, email }],
    format: 'object',
  });
  return { privateKey, publicKeyArmored: publicKey.armor(), fingerprint: privateKey.getFingerprint().toUpperCase() };
}

/** Wraps (encrypts) a private key under a passphrase: Argon2 S2K with AEAD (OpenPGP requires AEAD with Argon2). */
export async function wrapPgpKey(privateKey: openpgp.PrivateKey, passphrase: string, memoryExponent: number): Promise<string> {
  const wrapped = await openpgp.encryptKey({
    privateKey,
    passphrase,
    config: { aeadProtect: true, s2kType: openpgp.enums.s2k.argon2, s2kArgon2Params: { passes: 3, parallelism: 4, memoryExponent } },
  });
  return wrapped.armor();
}

/**
 * Re-protects an unlocked private key for GnuPG and other OpenPGP tools: iterated and salted S2K
 * (SHA-256), AES-256 in CFB with the SHA-1 checksum (no AEAD, which gpg 2.2 refuses as "invalid
 * cipher 253"). The given key object is not changed (openpgp clones it).
 */
export async function protectForExport(privateKey: openpgp.PrivateKey, passphrase: string): Promise<openpgp.PrivateKey> {
  return openpgp.encryptKey({
    privateKey,
    passphrase,
    config: {
      aeadProtect: false,
      s2kType: openpgp.enums.s2k.iterated,
      s2kIterationCountByte: 255,
      preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
      preferredHashAlgorithm: openpgp.enums.hash.sha256,
    },
  });
}

/**
 * Unwraps a private key; a wrong passphrase gives CREDENTIALS_WRONG and nothing else. Its Argon2
 * runs on libuv's thread pool (native-argon2.ts): a login blocks no JavaScript thread and needs no
 * worker of its own.
 */
export async function unwrapPgpKey(armored: string, passphrase: string): Promise<openpgp.PrivateKey> {
  const privateKey = await openpgp.readPrivateKey({ armoredKey: armored });
  try {
    return await decryptKeyNativeArgon2(privateKey, passphrase);
  } catch {
    throw wrongCredentials();
  }
}

export async function readPublicKey(armored: string): Promise<openpgp.PublicKey> {
  try {
    return await openpgp.readKey({ armoredKey: armored });
  } catch (err) {
    throw new MedgateError('KEY_MALFORMED', `not a valid OpenPGP public key: ${(err as Error).message}`);
  }
}

/** The armor comment of a secret its owner signed: tells an operator which keys are signed, nothing more. */
export const SIGNED_FOR_OWNER_COMMENT = 'medgate: signed by its owner';

/**
 * How far ahead of this node's clock a signature may be dated (another node's clock, a key created
 * on a host whose clock ran ahead): openpgp.js refuses signatures from the future, and keys used
 * before their creation time.
 */
const CLOCK_SKEW_MS = 24 * 3600 * 1000;

/**
 * A secret for its owner alone, and vouched for by him: encrypted to his key and signed by it, the
 * literal data named `label` (what it is, whose it is), so that no other message he signed passes
 * for it. The text is the secret as it was stored before secrets were signed, so a node of the
 * previous version still reads it. Whoever can write the store can encrypt to a public key: only
 * the signature tells the owner's secret from one put there by someone else (the account key, §5.3).
 */
export async function encryptAndSignForOwner(secret: string, label: string, privateKey: openpgp.PrivateKey): Promise<string> {
  // Never dated before the key itself (a key created where the clock ran ahead cannot sign earlier).
  const date = new Date(Math.max(Date.now(), privateKey.getCreationTime().getTime()));
  const message = await openpgp.createMessage({ text: secret, filename: label, date });
  return (await openpgp.encrypt({
    message, encryptionKeys: privateKey.toPublic(), signingKeys: privateKey, date, format: 'armored',
    config: { showComment: true, commentString: SIGNED_FOR_OWNER_COMMENT },
  })) as string;
}

/**
 * Opens what encryptAndSignForOwner made. `signed` is false for a secret written before secrets were
 * signed (encryptToKey: no signature at all); one that does not open with the owner's key, carries a
 * signature that is not his or does not verify, or is not named `label`, is ACCOUNT_KEY_UNTRUSTED:
 * it was not his to begin with.
 */
export async function decryptFromOwner(armored: string, label: string, privateKey: openpgp.PrivateKey): Promise<{ data: string; signed: boolean }> {
  let opened: openpgp.DecryptMessageResult;
  try {
    const message = await openpgp.readMessage({ armoredMessage: armored });
    // Verified as of a moment a little ahead: a signature made by a node whose clock is ahead is his too.
    opened = await openpgp.decrypt({ message, decryptionKeys: privateKey, verificationKeys: privateKey.toPublic(), date: new Date(Date.now() + CLOCK_SKEW_MS) });
  } catch (err) {
    throw untrusted('does not open with its owner\'s key', undefined, err);
  }
  const { data, signatures } = opened;
  for (const s of signatures) {
    try {
      await s.verified;
    } catch (err) {
      throw untrusted('is not signed by its owner', { keyId: s.keyID.toHex() }, err);
    }
  }
  if (signatures.length > 0 && opened.filename !== label) throw untrusted('is not named as this account\'s key');
  return { data: data as string, signed: signatures.length > 0 };
}

function untrusted(why: string, details?: Record<string, unknown>, cause?: unknown): MedgateError {
  return new MedgateError('ACCOUNT_KEY_UNTRUSTED', `the account key stored for this account ${why}: it was not drawn by this gateway for him, and is not used`,
    details, cause === undefined ? undefined : { cause });
}

/** Encrypts a secret (e.g. the certificate's private key) to an OpenPGP public key. */
export async function encryptToKey(secret: string, publicKey: openpgp.PublicKey): Promise<string> {
  const message = await openpgp.createMessage({ text: secret });
  return (await openpgp.encrypt({ message, encryptionKeys: publicKey, format: 'armored' })) as string;
}

export async function decryptWithKey(armored: string, privateKey: openpgp.PrivateKey): Promise<string> {
  const message = await openpgp.readMessage({ armoredMessage: armored });
  const { data } = await openpgp.decrypt({ message, decryptionKeys: privateKey });
  return data as string;
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

/** `scrypt$N$r$p$salt$hash` (base64): a verifier, never the password. */
export async function makePasswordVerifier(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, 32, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

export async function checkPasswordVerifier(password: string, verifier: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = verifier.split('$');
  if (alg !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024,
  });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const BASE32 = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A one-time recovery key: 40 characters from an unambiguous alphabet (200 bits), in groups of 5. */
export function makeRecoveryKey(): string {
  const bytes = randomBytes(40);
  const chars = Array.from(bytes, (b) => BASE32[b % 32]).join('');
  return chars.match(/.{5}/g)!.join('-');
}

export function normalizeRecoveryKey(input: string): string {
  const chars = input.toUpperCase().replace(/[^A-Z0-9]/g, '');
  return chars.match(/.{1,5}/g)?.join('-') ?? '';
}
