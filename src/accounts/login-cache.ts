import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as openpgp from 'openpgp';
import type { Account } from '../store/types.js';
import { secretKey } from '../crypto/secret-key.js';

export interface LoginCacheOptions {
  /**
   * How long an unlocked key is reused after the full (scrypt + Argon2) unlock, or after the last
   * session holding it ended; with 0 it is reused only while a session of the account holds it.
   */
  ttlSeconds: number;
  /** Most accounts kept; the least recently used one goes first. 0 turns the cache off entirely. */
  maxEntries: number;
  /** Milliseconds clock (tests move it forward). */
  now?: () => number;
}

interface Entry {
  /** HMAC of the password under this process's secret: proves a later password equal without keeping it. */
  passwordTag: Buffer;
  /** Digest of the wrapped key and verifier the key was unlocked from: a password change, re-key or restore changes it. */
  credentials: string;
  pgpKey: openpgp.PrivateKey;
  expiresAt: number;
  /** Open sessions (IMAP) using this key: while there are any, the entry does not expire. */
  holds: number;
}

/**
 * What Dovecot calls an auth cache: the key a password unlocked stays in memory for a while, so the
 * next login of the same account with the same password skips scrypt and Argon2 (0.8 s and 64 MiB
 * each with the production setting). Keyed by address; a hit needs the same password (compared as
 * HMACs, in constant time), the same stored credentials and an unexpired entry. The password itself
 * is never kept. Process memory only: nothing is written anywhere.
 */
export class LoginCache {
  /** A KeyObject: bytes as an HMAC key cost two thrown errors per LOGIN (src/crypto/secret-key.ts). */
  private readonly secret = secretKey(randomBytes(32));
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly o: LoginCacheOptions) {
    this.now = o.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.o.maxEntries > 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The password's tag for this account (also names an in-flight unlock). */
  tag(address: string, password: string): Buffer {
    return createHmac('sha256', this.secret).update(address).update('\0').update(password, 'utf8').digest();
  }

  /** Digest of what a key was unlocked from: the wrapped key and the password verifier. */
  static credentialsOf(account: Pick<Account, 'wrappedPgpKey' | 'passwordVerifier'>): string {
    return createHash('sha256').update(account.wrappedPgpKey).update('\0').update(account.passwordVerifier).digest('hex');
  }

  /** The cached key when the tag and the stored credentials both match and the entry has not expired. */
  lookup(address: string, passwordTag: Buffer, credentials: string): openpgp.PrivateKey | undefined {
    const entry = this.entries.get(address);
    if (!entry) return undefined;
    if ((entry.holds === 0 && entry.expiresAt <= this.now()) || entry.credentials !== credentials) {
      // Stale for everyone: expired, or the account's key/password changed since (maybe in another process).
      this.entries.delete(address);
      return undefined;
    }
    // A different password is not a reason to drop the entry: a wrong guess must not log the owner out of the cache.
    if (!timingSafeEqual(entry.passwordTag, passwordTag)) return undefined;
    this.entries.delete(address);
    this.entries.set(address, entry); // most recently used goes last
    return entry.pgpKey;
  }

  remember(address: string, passwordTag: Buffer, credentials: string, pgpKey: openpgp.PrivateKey): void {
    if (!this.enabled) return;
    this.entries.delete(address);
    this.entries.set(address, { passwordTag, credentials, pgpKey, expiresAt: this.now() + this.o.ttlSeconds * 1000, holds: 0 });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.o.maxEntries) break;
      this.entries.delete(oldest);
    }
  }

  /**
   * Keeps the entry of `address` alive while a session uses it (whatever the TTL); the returned
   * function ends the hold, and the TTL then counts from that moment. A no-op when nothing is cached
   * (cache off, entry evicted by a password change or a disable meanwhile).
   */
  hold(address: string): () => void {
    const entry = this.entries.get(address);
    if (!entry) return () => {};
    entry.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.holds--;
      if (entry.holds === 0) entry.expiresAt = this.now() + this.o.ttlSeconds * 1000;
    };
  }

  evict(address: string): void {
    this.entries.delete(address);
  }
}
