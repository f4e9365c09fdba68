import type * as openpgp from 'openpgp';
import type { MessageMeta } from '../imap/backend.js';
import type { MetaKey } from './meta-key.js';
import type { OpenedFacts, OpenedMessage } from './opened-message.js';

/** Decrypted messages kept per account, across its sessions. */
const OPENED_LIMIT_BYTES = 64 * 1024 * 1024;
/** Decoded IMAP metadata (envelope, structure) kept per account. */
const META_LIMIT_ENTRIES = 20_000;

/**
 * What the open IMAP sessions of one account share while at least one of them is open: the
 * metadata key (unwrapped once, not at every LOGIN), the facts and IMAP metadata of its messages
 * (decrypted once from the encrypted cache), and the messages already opened, with one opening in
 * flight per message whichever session asked. A client with five connections, or one that logs in
 * and out all day, decrypts a message once. It is all process memory, dropped with the last
 * session: nothing here is written anywhere.
 */
export class SharedAccount {
  sessions = 0;
  /** Standard folders made and INBOX listed once per account, not once per LOGIN. */
  prepared: Promise<void> | null = null;
  readonly facts = new Map<string, OpenedFacts>();
  readonly opening = new Map<string, Promise<OpenedMessage>>();
  /** Streamed first openings of large messages in flight (facts only, no bytes kept). */
  readonly streamingFacts = new Map<string, Promise<OpenedFacts | undefined>>();
  private readonly opened = new Map<string, OpenedMessage>();
  private openedBytes = 0;
  private readonly imapMeta = new Map<string, MessageMeta>();
  /**
   * What the pseudonymised parts of this account's mailbox names stand for, by cache key
   * (folder-names.ts): read from the metadata cache once. A pseudonym stands for one text for good.
   */
  readonly folderNames = new Map<string, string>();

  constructor(
    readonly address: string,
    readonly pgpKey: openpgp.PrivateKey,
    readonly metaKey: MetaKey,
  ) {}

  getOpened(blobId: string): OpenedMessage | undefined {
    return this.opened.get(blobId);
  }

  remember(blobId: string, opened: OpenedMessage): void {
    const previous = this.opened.get(blobId);
    if (previous) this.openedBytes -= previous.bytes.length;
    this.opened.delete(blobId);
    this.opened.set(blobId, opened);
    this.openedBytes += opened.bytes.length;
    for (const [k, v] of this.opened) {
      if (this.openedBytes <= OPENED_LIMIT_BYTES || this.opened.size <= 1) break;
      this.opened.delete(k);
      this.openedBytes -= v.bytes.length;
    }
  }

  getMeta(blobId: string): MessageMeta | undefined {
    return this.imapMeta.get(blobId);
  }

  forgetMeta(blobId: string): void {
    this.imapMeta.delete(blobId);
  }

  rememberMeta(blobId: string, meta: MessageMeta): void {
    this.imapMeta.delete(blobId);
    this.imapMeta.set(blobId, meta);
    if (this.imapMeta.size > META_LIMIT_ENTRIES) {
      const oldest = this.imapMeta.keys().next().value;
      if (oldest !== undefined) this.imapMeta.delete(oldest);
    }
  }

  clear(): void {
    this.facts.clear();
    this.opened.clear();
    this.openedBytes = 0;
    this.imapMeta.clear();
  }
}

/**
 * The accounts with at least one open IMAP session in this process, and for `lingerMs` after their
 * last one ended: the same span the login cache keeps the key (security.loginCache.ttlSeconds), so a
 * client that logs out and back in does not decrypt its mailbox again. Anyone able to read this
 * memory then could read the key too; nothing more is exposed than by the login cache.
 */
export class OpenAccounts {
  private readonly accounts = new Map<string, SharedAccount>();
  private readonly loading = new Map<string, Promise<SharedAccount>>();
  private readonly lingering = new Map<SharedAccount, NodeJS.Timeout>();

  constructor(private readonly lingerMs = 0) {}

  /**
   * The shared state of `address`, made on its first session (`loadMetaKey` runs only then). Each
   * call counts one session: give it back with `release`.
   */
  async acquire(address: string, pgpKey: openpgp.PrivateKey, loadMetaKey: () => Promise<MetaKey>): Promise<SharedAccount> {
    let shared = this.accounts.get(address);
    // The same account unlocked with another key (re-keyed meanwhile): start afresh.
    if (shared && shared.pgpKey.getFingerprint() !== pgpKey.getFingerprint()) {
      this.accounts.delete(address);
      shared = undefined;
    }
    if (!shared) {
      let load = this.loading.get(address);
      if (!load) {
        load = loadMetaKey().then((metaKey) => {
          const made = new SharedAccount(address, pgpKey, metaKey);
          this.accounts.set(address, made);
          return made;
        }).finally(() => this.loading.delete(address));
        this.loading.set(address, load);
      }
      shared = await load;
    }
    const timer = this.lingering.get(shared);
    if (timer) {
      clearTimeout(timer);
      this.lingering.delete(shared);
    }
    shared.sessions++;
    return shared;
  }

  release(shared: SharedAccount): void {
    shared.sessions--;
    if (shared.sessions > 0) return;
    if (this.lingerMs <= 0) return this.drop(shared);
    const timer = setTimeout(() => this.drop(shared), this.lingerMs);
    timer.unref();
    this.lingering.set(shared, timer);
  }

  private drop(shared: SharedAccount): void {
    const timer = this.lingering.get(shared);
    if (timer) clearTimeout(timer);
    this.lingering.delete(shared);
    if (shared.sessions > 0) return;
    shared.clear();
    if (this.accounts.get(shared.address) === shared) this.accounts.delete(shared.address);
  }

  /** Number of accounts with open sessions (metrics, tests). */
  get size(): number {
    return this.accounts.size;
  }
}
