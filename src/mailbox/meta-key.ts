import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { decryptWithKey, encryptToKey } from '../crypto/keys.js';
import { MedgateError } from '../errors.js';
import type { AccountRepo } from '../store/types.js';

/**
 * A user's metadata key: AES-256-GCM for cached envelopes/sizes and patient folder names. It is
 * stored encrypted to the user's OpenPGP key, so the cache is as closed to the gateway as the mail.
 */
export class MetaKey {
  private constructor(private readonly key: Buffer) {}

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

  private static async load(accounts: AccountRepo, address: string, pgpKey: openpgp.PrivateKey): Promise<MetaKey> {
    const account = await accounts.get(address);
    if (!account) throw new MedgateError('ACCOUNT_UNKNOWN', `no account for ${address}`);
    if (account.wrappedMetaKey) {
      const hex = await decryptWithKey(account.wrappedMetaKey, pgpKey);
      return new MetaKey(Buffer.from(hex, 'hex'));
    }
    const key = randomBytes(32);
    await accounts.update(address, { wrappedMetaKey: await encryptToKey(key.toString('hex'), pgpKey.toPublic()) });
    return new MetaKey(key);
  }

  encrypt(value: unknown): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  }

  /** Undefined when the entry is not readable (another key, corrupted): the caller recomputes it. */
  decrypt<T>(text: string): T | undefined {
    const [v, iv, tag, body] = text.split('.');
    if (v !== 'v1' || !iv || !tag || !body) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]);
      return JSON.parse(plain.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** A keyed, stable name for something that must not be stored in clear (a patient folder). */
  pseudonym(value: string): string {
    return createHmac('sha256', this.key).update(value).digest('base64url').slice(0, 22);
  }
}
