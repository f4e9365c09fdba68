import { createCipheriv, createDecipheriv, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { decryptWithKey, encryptToKey } from '../crypto/keys.js';
import { openOwnCopyAead, sealOwnCopyAead } from '../crypto/seal/own-copy-aead.js';
import { secretKey } from '../crypto/secret-key.js';
import { MedgateError } from '../errors.js';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import type { AccountRepo } from '../store/types.js';

/**
 * A user's metadata key: AES-256-GCM for cached envelopes/sizes and patient folder names. It is
 * stored encrypted to the user's OpenPGP key, so the cache is as closed to the gateway as the mail.
 */
export class MetaKey {
  /**
   * The key as a KeyObject, made once, for every use: HKDF converted the bytes at every own copy, and
   * bytes as a cipher or HMAC key cost two thrown errors per call (src/crypto/secret-key.ts).
   */
  private readonly secret: KeyObject;

  private constructor(key: Buffer) {
    this.secret = secretKey(key);
  }

  /** Loads in flight per user: parallel first logins of one user must agree on one key. */
  private static readonly loading = new Map<string, Promise<MetaKey>>();

  /** Unwraps the user's key, creating it on first use. */
  static forAccount(accounts: AccountRepo, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey> {
    let load = MetaKey.loading.get(address);
    if (!load) {
      load = MetaKey.load(accounts, address, pgpKey).finally(() => MetaKey.loading.delete(address));
      MetaKey.loading.set(address, load);
    }
    return load;
  }

  /** The account's key if it has one (a reader: nothing is created). */
  static async existing(accounts: AccountRepo, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey | undefined> {
    const account = await accounts.get(address);
    if (!account?.wrappedMetaKey) return undefined;
    return new MetaKey(Buffer.from(await decryptWithKey(account.wrappedMetaKey, pgpKey), 'hex'));
  }

  private static async load(accounts: AccountRepo, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey> {
    const account = await accounts.get(address);
    if (!account) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
    if (account.wrappedMetaKey) {
      const hex = await decryptWithKey(account.wrappedMetaKey, pgpKey);
      return new MetaKey(Buffer.from(hex, 'hex'));
    }
    // Whichever node writes first wins: a login elsewhere may have drawn one meanwhile.
    const key = randomBytes(32);
    const wrapped = await encryptToKey(key.toString('hex'), pgpKey.toPublic());
    const stored = await accounts.initWrappedMetaKey(address, wrapped);
    if (stored === undefined) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
    if (stored === wrapped) return new MetaKey(key);
    return new MetaKey(Buffer.from(await decryptWithKey(stored, pgpKey), 'hex'));
  }

  encrypt(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.secret, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /** Undefined when the entry is not readable (another key, corrupted): the caller recomputes it. */
  decrypt<T>(text: string): T | undefined {
    const [v, iv, tag, body] = text.split('.');
    if (v !== 'v1' || !iv || !tag || !body) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.secret, Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /**
   * A person's own copy (IMAP APPEND) sealed under this key (docs/secure-message-format.md §5.2):
   * AES-256-GCM under a key derived for the copy, no OpenPGP operation before the APPEND's answer.
   */
  sealOwnCopy(raw: Uint8Array, owner: string): Promise<Buffer> {
    return sealOwnCopyAead(raw, this.secret, owner);
  }

  /** Opens an own copy sealed by sealOwnCopy; a CryptoError when it does not authenticate. */
  openOwnCopy(sealed: Uint8Array, owner: string): Promise<Buffer> {
    return openOwnCopyAead(sealed, this.secret, owner);
  }

  /** A keyed, stable name for something that must not be stored in clear (a patient folder). */
  pseudonym(value: string): string {
    return createHmac('sha256', this.secret).update(value).digest('base64url').slice(0, 22);
  }
}

/**
 * Opens a copy `address` stored himself (§5.2) with his unlocked OpenPGP key (`medgate message open`):
 * NOT_FOR_THIS_KEY when the account has no account key, CIPHERTEXT_TAMPERED when the copy does not
 * authenticate under it (another account's, or altered).
 */
export async function openOwnCopyAs(accounts: AccountRepo, address: string, pgpKey: openpgp.PrivateKey, sealed: Uint8Array): Promise<Buffer> {
  const accountKey = await MetaKey.existing(accounts, address, pgpKey);
  if (!accountKey) throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, `${address} has no account key: this own copy is another account's`);
  return accountKey.openOwnCopy(sealed, address);
}
