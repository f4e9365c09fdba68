import { createCipheriv, createDecipheriv, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { decryptFromOwner, encryptAndSignForOwner } from '../crypto/keys.js';
import { openOwnCopyAead, sealOwnCopyAead } from '../crypto/seal/own-copy-aead.js';
import { secretKey } from '../crypto/secret-key.js';
import { MedgateError } from '../errors.js';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import type { Logger } from '../log.js';
import type { AccountRepo, MailRepo } from '../store/types.js';
import { bindCacheEntries } from './bind-cache-entries.js';

/** What loading an account key needs: its store, and the rule for keys stored before signing. */
export interface AccountKeyStore {
  accounts: Pick<AccountRepo, 'get' | 'initWrappedMetaKey' | 'replaceWrappedMetaKey'>;
  mail: Pick<MailRepo, 'listMeta' | 'replaceMeta'>;
  logger: Logger;
  /**
   * A key stored unsigned (before 2026-12, encryptToKey): `sign` signs it at this login (its cache
   * entries bound first), `refuse` refuses the login (config `security.unsignedAccountKeys`).
   */
  unsigned: 'sign' | 'refuse';
}

/** The account key's store as a gateway's context gives it. */
export function accountKeyStoreOf(ctx: { store: { accounts: AccountRepo; mail: MailRepo }; logger: Logger; config: { security: { unsignedAccountKeys: 'sign' | 'refuse' } } }): AccountKeyStore {
  return { accounts: ctx.store.accounts, mail: ctx.store.mail, logger: ctx.logger, unsigned: ctx.config.security.unsignedAccountKeys };
}

/** The name the owner's signature gives his account key: what it is and whose (keys.ts, label). */
function accountKeyLabel(owner: string): string {
  return `medgate account key ${owner.toLowerCase()}`;
}

/**
 * A user's metadata key ("account key"): AES-256-GCM for cached envelopes/sizes and folder names,
 * and the key own copies are sealed under (§5.2). It is stored encrypted to the user's OpenPGP key
 * and signed by it, so the cache is as closed to the gateway as the mail, and nobody who can write
 * the store can put a key of his own in its place (docs/secure-message-format.md §5.3).
 */
export class MetaKey {
  /**
   * The key as a KeyObject, made once, for every use: HKDF converted the bytes at every own copy, and
   * bytes as a cipher or HMAC key cost two thrown errors per call (src/crypto/secret-key.ts).
   */
  private readonly secret: KeyObject;

  private constructor(key: Buffer, private readonly owner: string) {
    this.secret = secretKey(key);
  }

  /** Loads in flight per user: parallel first logins of one user must agree on one key. */
  private static readonly loading = new Map<string, Promise<MetaKey>>();

  /** Unwraps the user's key, creating it on first use. */
  static forAccount(store: AccountKeyStore, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey> {
    let load = MetaKey.loading.get(address);
    if (!load) {
      load = MetaKey.load(store, address, pgpKey).finally(() => MetaKey.loading.delete(address));
      MetaKey.loading.set(address, load);
    }
    return load;
  }

  /**
   * The account's key if it has one (a reader: nothing is created or rewritten). A key stored before
   * signing is read unless `unsigned` is `refuse`.
   */
  static async existing(accounts: Pick<AccountRepo, 'get'>, address: string, pgpKey: openpgp.PrivateKey, unsigned: 'sign' | 'refuse'): Promise<MetaKey | undefined> {
    const account = await accounts.get(address);
    if (!account?.wrappedMetaKey) return undefined;
    const opened = await decryptFromOwner(account.wrappedMetaKey, accountKeyLabel(account.address), pgpKey);
    if (!opened.signed && unsigned === 'refuse') throw unsignedRefused(address);
    return new MetaKey(keyBytes(opened.data), account.address);
  }

  private static async load(store: AccountKeyStore, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey> {
    const account = await store.accounts.get(address);
    if (!account) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
    const owner = account.address;
    const label = accountKeyLabel(owner);
    let wrapped = account.wrappedMetaKey;
    if (!wrapped) {
      // Entries are only ever written under a key: with entries and no key, the key was taken away
      // (a new one would leave every own copy unreadable, and hide that). Not replaced.
      if ((await store.mail.listMeta(owner, '', 1)).length > 0) {
        // Another node's first login may have stored its key, then entries, since the read above.
        wrapped = (await store.accounts.get(address))?.wrappedMetaKey ?? null;
        if (!wrapped) throw new MedgateError('ACCOUNT_KEY_UNTRUSTED', 'the account key of this account is missing although its mail was stored under one: it is not replaced', { account: owner });
      }
    }
    if (!wrapped) {
      // Whichever node writes first wins: a login elsewhere may have drawn one meanwhile.
      const drawn = randomBytes(32);
      const mine = await encryptAndSignForOwner(drawn.toString('hex'), label, pgpKey);
      wrapped = (await store.accounts.initWrappedMetaKey(address, mine)) ?? null;
      if (wrapped === null) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
      if (wrapped === mine) return new MetaKey(drawn, owner);
    }
    const opened = await decryptFromOwner(wrapped, label, pgpKey);
    const bytes = keyBytes(opened.data);
    if (opened.signed) return new MetaKey(bytes, owner);
    if (store.unsigned === 'refuse') throw unsignedRefused(address);
    // Stored before keys were signed: its entries are bound to their places first, then the key is
    // signed, saying so. Until then a crash leaves it unsigned, and the next login does it again.
    const key = new MetaKey(bytes, owner);
    const bound = await bindCacheEntries(store.mail, key, owner);
    const signed = await encryptAndSignForOwner(opened.data, label, pgpKey);
    const replaced = await store.accounts.replaceWrappedMetaKey(address, wrapped, signed);
    store.logger.warn({ account: owner, bound, replaced }, 'account key stored unsigned: signed by its owner at this login (security.unsignedAccountKeys: sign)');
    return key;
  }

  /**
   * A cache entry, bound to its owner and its place (`cacheKey`: the message's blob id, a folder's
   * `mbx:` key) by GCM's associated data: moved to another message, folder or account, it does not open.
   */
  encrypt(value: unknown, cacheKey: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.secret, iv);
    cipher.setAAD(this.placeOf(cacheKey));
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v2', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /**
   * Undefined when the entry is not readable here (another key, another place, corrupted, an unbound
   * entry of version 1): the caller recomputes it.
   */
  decrypt<T>(text: string, cacheKey: string): T | undefined {
    return this.open<T>(text, 'v2', cacheKey);
  }

  /** An entry of version 1 (before entries were bound), read only to bind it (bindCacheEntries). */
  decryptUnbound<T>(text: string): T | undefined {
    return this.open<T>(text, 'v1');
  }

  private open<T>(text: string, version: 'v1' | 'v2', cacheKey?: string): T | undefined {
    const [v, iv, tag, body] = text.split('.');
    if (v !== version || !iv || !tag || !body) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.secret, Buffer.from(iv, 'base64'));
      if (cacheKey !== undefined) decipher.setAAD(this.placeOf(cacheKey));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  private placeOf(cacheKey: string): Buffer {
    return Buffer.from(`medgate/1 cache\0${this.owner.toLowerCase()}\0${cacheKey}`, 'utf8');
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
export async function openOwnCopyAs(accounts: Pick<AccountRepo, 'get'>, address: string, pgpKey: openpgp.PrivateKey, sealed: Uint8Array, unsigned: 'sign' | 'refuse'): Promise<Buffer> {
  const accountKey = await MetaKey.existing(accounts, address, pgpKey, unsigned);
  if (!accountKey) throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, `${address} has no account key: this own copy is another account's`);
  return accountKey.openOwnCopy(sealed, address);
}

/** The key's bytes from its stored text (64 hex digits, signed or as stored before signing). */
function keyBytes(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new MedgateError('ACCOUNT_KEY_UNTRUSTED', 'the account key stored for this account is not a 32-byte key: it is not used');
  return Buffer.from(hex, 'hex');
}

function unsignedRefused(address: string): MedgateError {
  return new MedgateError('ACCOUNT_KEY_UNSIGNED',
    'the account key stored for this account is not signed by its owner, and security.unsignedAccountKeys is refuse: ask the administrator',
    { account: address.toLowerCase() });
}
