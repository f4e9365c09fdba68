/**
 * medgate/1 own copies under the account key (docs/secure-message-format.md §5.2): what a person
 * APPENDs for himself (Sent, Drafts, any folder) is sealed with AES-256-GCM under a key derived for
 * that message from his account key, not with an OpenPGP sign+encrypt.
 *
 * Why: an own copy is read by nobody but its owner, through this gateway. Its OpenPGP form cost an
 * X25519 key agreement and an Ed25519 signature (about 1.5 ms for a 200-byte message, 3-4 ms for a
 * realistic one) before the APPEND could be answered, and was what kept a mail client's long
 * session at half Dovecot's pace (issue 31). The account key (the one that already seals the
 * metadata cache, src/mailbox/meta-key.ts) is random, stored only wrapped to the account's OpenPGP
 * key, so this form is as closed as the OpenPGP one: whoever opens it holds the private key.
 * GCM's tag under that secret key authenticates the copy as the signature did: nobody without the
 * key can write a copy that opens.
 *
 * Bytes: a constant header block (no field about the message: no From, Date, Subject), then
 * salt (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16). Large copies go through the cipher a slice per
 * turn of the event loop. The message key is HKDF-SHA256(account key,
 * salt, "medgate/1 own copy" ‖ 0 ‖ owner): one key per copy, so disclosing one copy's key (a
 * court order for one message) discloses nothing else. The header block and the owner's address
 * are the associated data.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { secretKey } from '../secret-key.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { inSlices } from '../../util/slices.js';

/** The whole header block of an own copy: its detection is an exact prefix match, nothing parsed. */
export const OWN_COPY_HEADER = Buffer.from(
  'MIME-Version: 1.0\r\nX-Medgate-Format: medgate/1; body=own-aead\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n',
  'latin1',
);

const SALT = 32;
const NONCE = 12;
const TAG = 16;
const INFO = 'medgate/1 own copy';

/** True when `sealed` (or its first bytes) is an own copy in this form. */
export function isOwnCopyAead(sealed: Uint8Array): boolean {
  return sealed.length >= OWN_COPY_HEADER.length && OWN_COPY_HEADER.equals(sealed.subarray(0, OWN_COPY_HEADER.length));
}

/** The account key: its bytes, or (kept by a caller that seals often) a secret KeyObject made once. */
export type AccountKey = Uint8Array | KeyObject;

/** The copy's key, as a KeyObject (src/crypto/secret-key.ts: bytes as a cipher key cost two thrown errors). */
function messageKey(accountKey: AccountKey, salt: Uint8Array, owner: string): KeyObject {
  const info = Buffer.concat([Buffer.from(INFO, 'latin1'), Buffer.from([0]), Buffer.from(owner.toLowerCase(), 'utf8')]);
  const ikm = accountKey instanceof Uint8Array ? secretKey(accountKey) : accountKey;
  return secretKey(new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32)));
}

function aad(owner: string): Buffer {
  return Buffer.concat([OWN_COPY_HEADER, Buffer.from(owner.toLowerCase(), 'utf8')]);
}

/** The cipher over `data`, a slice per turn of the event loop (src/util/slices.ts). */
async function pass(c: { update(data: Uint8Array): Buffer }, data: Uint8Array): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await inSlices(data, (slice) => out.push(c.update(slice)));
  return out;
}

function checkKey(accountKey: AccountKey): void {
  if ((accountKey instanceof Uint8Array ? accountKey.length : accountKey.symmetricKeySize) !== 32) throw new Error('own copy: the account key must be 32 bytes');
}

/** Seals `raw` (the client's bytes, kept byte for byte) for `owner` under his account key. */
export async function sealOwnCopyAead(raw: Uint8Array, accountKey: AccountKey, owner: string): Promise<Buffer> {
  checkKey(accountKey);
  const salt = randomBytes(SALT + NONCE);
  const cipher = createCipheriv('aes-256-gcm', messageKey(accountKey, salt.subarray(0, SALT), owner), salt.subarray(SALT));
  cipher.setAAD(aad(owner));
  const body = await pass(cipher, raw);
  return Buffer.concat([OWN_COPY_HEADER, salt, ...body, cipher.final(), cipher.getAuthTag()]);
}

/**
 * Opens an own copy: the original bytes, or CIPHERTEXT_TAMPERED when it does not authenticate
 * (altered, damaged, or sealed for another account), MALFORMED_STRUCTURE when it is not one.
 */
export async function openOwnCopyAead(sealed: Uint8Array, accountKey: AccountKey, owner: string): Promise<Buffer> {
  checkKey(accountKey);
  if (!isOwnCopyAead(sealed)) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'The message is not an own copy sealed under the account key');
  const start = OWN_COPY_HEADER.length;
  if (sealed.length < start + SALT + NONCE + TAG) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'The own copy is truncated');
  const salt = sealed.subarray(start, start + SALT);
  const nonce = sealed.subarray(start + SALT, start + SALT + NONCE);
  const body = sealed.subarray(start + SALT + NONCE, sealed.length - TAG);
  try {
    const decipher = createDecipheriv('aes-256-gcm', messageKey(accountKey, salt, owner), nonce);
    decipher.setAAD(aad(owner));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    // Nothing leaves before final() has checked the tag.
    const out = await pass(decipher, body);
    out.push(decipher.final());
    return Buffer.concat(out);
  } catch (cause) {
    throw new CryptoError(CryptoErrorCode.CIPHERTEXT_TAMPERED, 'The own copy could not be decrypted: it was altered or damaged, or is not this account\'s', undefined, { cause });
  }
}
