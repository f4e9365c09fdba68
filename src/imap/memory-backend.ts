/**
 * In-memory ImapBackend: a complete and correct implementation of the backend contract, used by the
 * IMAP tests and as a reference for the real (encrypted, persistent) backend. NOT for production:
 * nothing is persisted and passwords are compared in clear.
 */
import { timingSafeEqual } from 'node:crypto';
import type {
  AppendResult,
  AuthMeta,
  ChangeListener,
  CopyResult,
  FlagOperation,
  FlagUpdate,
  ImapBackend,
  ImapUserSession,
  MailboxChange,
  MailboxInfo,
  MailboxSnapshot,
  OpenOptions,
  MessageMeta,
  SetFlagsOptions,
  SpecialUse,
} from './backend.js';
import { ImapError, ImapErrorCode } from './errors.js';
import { canonicalMailboxName } from './mailbox-name.js';

interface StoredMessage {
  uid: number;
  modseq: number;
  flags: Set<string>;
  internalDate: Date;
  raw: Buffer;
  meta?: MessageMeta;
}

interface StoredMailbox {
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  /** \Recent watermark: the highest UID a selecting session has seen. */
  recentUid: number;
  messages: StoredMessage[];
  specialUse?: SpecialUse;
  noSelect: boolean;
}

interface UserStore {
  password: string;
  mailboxes: Map<string, StoredMailbox>;
  /** Subscriptions are names, not mailbox properties: they outlive DELETE (RFC 3501 §6.3.6). */
  subscriptions: Set<string>;
  listeners: Map<string, Map<ChangeListener, boolean>>;
}

let uidValiditySeed = Math.floor(Date.now() / 1000);

const DEFAULT_MAILBOXES: Array<[string, SpecialUse | undefined]> = [
  ['INBOX', undefined],
  ['Sent', '\\Sent'],
  ['Drafts', '\\Drafts'],
  ['Trash', '\\Trash'],
  ['Junk', '\\Junk'],
];

export class MemoryBackend implements ImapBackend {
  private readonly users = new Map<string, UserStore>();
  /** Number of authenticate() calls, so tests can prove throttled logins never reach the backend. */
  authenticateCalls = 0;

  addUser(user: string, password: string): void {
    const mailboxes = new Map<string, StoredMailbox>();
    for (const [name, specialUse] of DEFAULT_MAILBOXES) {
      mailboxes.set(name, newMailbox(name, specialUse));
    }
    // The default mailboxes start subscribed; CREATE does not subscribe (RFC 3501 §6.3.3).
    const subscriptions = new Set(DEFAULT_MAILBOXES.map(([name]) => name));
    this.users.set(user.toLowerCase(), { password, mailboxes, subscriptions, listeners: new Map() });
  }

  async authenticate(user: string, password: string, _meta: AuthMeta): Promise<ImapUserSession | null> {
    this.authenticateCalls++;
    const store = this.users.get(user.toLowerCase());
    if (!store) return null;
    const given = Buffer.from(password, 'utf8');
    const expected = Buffer.from(store.password, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return new MemoryUserSession(user.toLowerCase(), store);
  }

  /** Test helper: delivers a message as the mail pipeline would (other sessions get EXISTS). */
  async deliver(user: string, mailbox: string, raw: Buffer, flags: string[] = []): Promise<AppendResult> {
    const store = this.users.get(user.toLowerCase());
    if (!store) throw new Error('unknown user');
    return new MemoryUserSession(user.toLowerCase(), store).append(mailbox, raw, flags, new Date());
  }
}

function newMailbox(name: string, specialUse?: SpecialUse): StoredMailbox {
  const mailbox: StoredMailbox = { name, uidValidity: ++uidValiditySeed, uidNext: 1, highestModseq: 1, recentUid: 0, messages: [], noSelect: false };
  if (specialUse) mailbox.specialUse = specialUse;
  return mailbox;
}

class MemoryUserSession implements ImapUserSession {
  readonly supportsModseq = true;
  private readonly unsubscribers = new Set<() => void>();

  constructor(
    readonly user: string,
    private readonly store: UserStore,
  ) {}

  private mailbox(name: string, allowNoSelect = false): StoredMailbox {
    const mailbox = this.store.mailboxes.get(canonicalMailboxName(name));
    if (!mailbox || (mailbox.noSelect && !allowNoSelect)) {
      throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, 'Mailbox does not exist');
    }
    return mailbox;
  }

  private emit(mailbox: string, change: MailboxChange): void {
    const box = this.store.mailboxes.get(mailbox);
    for (const [listener, claimRecent] of this.store.listeners.get(mailbox) ?? []) {
      try {
        if (change.type === 'exists' && box) {
          // \Recent goes to the first selecting session that sees the message (RFC 3501 §2.3.2).
          const recent = change.message.uid > box.recentUid;
          if (recent && claimRecent) box.recentUid = change.message.uid;
          listener({ type: 'exists', message: { ...change.message, recent: recent && claimRecent } });
        } else listener(change);
      } catch {
        // a failing listener must not break the writer or other listeners
      }
    }
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    const list = [...this.store.mailboxes.values()].map((m) => {
      const info: MailboxInfo = { name: m.name, subscribed: this.store.subscriptions.has(m.name) };
      if (m.specialUse) info.specialUse = m.specialUse;
      if (m.noSelect) info.noSelect = true;
      return info;
    });
    for (const name of this.store.subscriptions) {
      if (!this.store.mailboxes.has(name)) list.push({ name, subscribed: true, nonExistent: true });
    }
    return list;
  }

  async createMailbox(name: string): Promise<void> {
    const canonical = canonicalMailboxName(name);
    if (!canonical || canonical.split('/').some((segment) => segment === '')) {
      throw new ImapError(ImapErrorCode.MAILBOX_NOT_ALLOWED, 'Invalid mailbox name');
    }
    const existing = this.store.mailboxes.get(canonical);
    if (existing && !existing.noSelect) throw new ImapError(ImapErrorCode.MAILBOX_EXISTS, 'Mailbox already exists');
    if (existing) {
      existing.noSelect = false;
      return;
    }
    // Create missing parents too (RFC 3501 §6.3.3 "SHOULD create superior hierarchical names").
    const segments = canonical.split('/');
    for (let i = 1; i <= segments.length; i++) {
      const path = segments.slice(0, i).join('/');
      if (!this.store.mailboxes.has(path)) this.store.mailboxes.set(path, newMailbox(path));
    }
  }

  async deleteMailbox(name: string): Promise<void> {
    const mailbox = this.mailbox(name, true);
    if (mailbox.name === 'INBOX') throw new ImapError(ImapErrorCode.MAILBOX_NOT_ALLOWED, 'INBOX cannot be deleted');
    const hasChildren = [...this.store.mailboxes.keys()].some((other) => other.startsWith(mailbox.name + '/'));
    if (hasChildren) {
      if (mailbox.noSelect) throw new ImapError(ImapErrorCode.MAILBOX_NOT_ALLOWED, 'Mailbox has children');
      // RFC 3501 §6.3.4: a mailbox with inferiors loses its messages and becomes \Noselect.
      const uids = mailbox.messages.map((m) => m.uid);
      mailbox.messages = [];
      mailbox.noSelect = true;
      if (uids.length) this.emit(mailbox.name, { type: 'expunge', uids });
      return;
    }
    this.store.mailboxes.delete(mailbox.name);
    this.emit(mailbox.name, { type: 'expunge', uids: mailbox.messages.map((m) => m.uid) });
  }

  async renameMailbox(from: string, to: string): Promise<void> {
    const source = this.mailbox(from, true);
    const target = canonicalMailboxName(to);
    if (!target || target.split('/').some((segment) => segment === '')) {
      throw new ImapError(ImapErrorCode.MAILBOX_NOT_ALLOWED, 'Invalid mailbox name');
    }
    if (this.store.mailboxes.has(target)) throw new ImapError(ImapErrorCode.MAILBOX_EXISTS, 'Target mailbox already exists');
    if (source.name === 'INBOX') {
      // Renaming INBOX moves its messages into a new mailbox and leaves INBOX empty.
      await this.createMailbox(target);
      const created = this.mailbox(target);
      for (const message of source.messages) {
        created.messages.push({ ...message, uid: created.uidNext++, modseq: ++created.highestModseq, flags: new Set(message.flags) });
      }
      const uids = source.messages.map((m) => m.uid);
      source.messages = [];
      if (uids.length) this.emit('INBOX', { type: 'expunge', uids });
      return;
    }
    const renamed = [...this.store.mailboxes.values()].filter((m) => m.name === source.name || m.name.startsWith(source.name + '/'));
    for (const mailbox of renamed) {
      this.store.mailboxes.delete(mailbox.name);
      mailbox.name = target + mailbox.name.slice(source.name.length);
      mailbox.uidValidity = ++uidValiditySeed;
      this.store.mailboxes.set(mailbox.name, mailbox);
    }
    const parentSegments = target.split('/').slice(0, -1);
    for (let i = 1; i <= parentSegments.length; i++) {
      const path = parentSegments.slice(0, i).join('/');
      if (!this.store.mailboxes.has(path)) this.store.mailboxes.set(path, newMailbox(path));
    }
  }

  async setSubscribed(name: string, subscribed: boolean): Promise<void> {
    const canonical = canonicalMailboxName(name);
    if (subscribed) {
      this.mailbox(canonical, true); // SUBSCRIBE of an unknown name is refused; UNSUBSCRIBE always works
      this.store.subscriptions.add(canonical);
    } else this.store.subscriptions.delete(canonical);
  }

  async openMailbox(name: string, options: OpenOptions = {}): Promise<MailboxSnapshot> {
    const mailbox = this.mailbox(name);
    const firstRecentUid = mailbox.recentUid + 1;
    if (options.claimRecent) mailbox.recentUid = Math.max(mailbox.recentUid, mailbox.uidNext - 1);
    const snapshot: MailboxSnapshot = {
      firstRecentUid,
      name: mailbox.name,
      uidValidity: mailbox.uidValidity,
      uidNext: mailbox.uidNext,
      highestModseq: mailbox.highestModseq,
      messages: mailbox.messages.map((m) => ({ uid: m.uid, flags: [...m.flags], internalDate: m.internalDate, size: m.raw.length, modseq: m.modseq })),
    };
    if (mailbox.specialUse) snapshot.specialUse = mailbox.specialUse;
    return snapshot;
  }

  private message(mailbox: string, uid: number): StoredMessage {
    const found = this.mailbox(mailbox).messages.find((m) => m.uid === uid);
    if (!found) throw new ImapError(ImapErrorCode.MESSAGE_GONE, 'Message no longer exists');
    return found;
  }

  async getMessage(mailbox: string, uid: number): Promise<Buffer> {
    return this.message(mailbox, uid).raw;
  }

  async getMessageMeta(mailbox: string, uid: number): Promise<MessageMeta | null> {
    return this.message(mailbox, uid).meta ?? null;
  }

  async storeMessageMeta(mailbox: string, uid: number, meta: MessageMeta): Promise<void> {
    this.message(mailbox, uid).meta = meta;
  }

  async append(name: string, raw: Buffer, flags: string[], internalDate: Date): Promise<AppendResult> {
    const mailbox = this.mailbox(name);
    const message: StoredMessage = { uid: mailbox.uidNext++, modseq: ++mailbox.highestModseq, flags: new Set(flags), internalDate, raw: Buffer.from(raw) };
    mailbox.messages.push(message);
    this.emit(mailbox.name, {
      type: 'exists',
      message: { uid: message.uid, flags: [...message.flags], internalDate, size: raw.length, modseq: message.modseq },
    });
    return { uid: message.uid, uidValidity: mailbox.uidValidity };
  }

  async setFlags(name: string, uids: number[], op: FlagOperation, flags: string[], options: SetFlagsOptions = {}): Promise<FlagUpdate[]> {
    const mailbox = this.mailbox(name);
    const wanted = new Set(uids);
    const updates: FlagUpdate[] = [];
    for (const message of mailbox.messages) {
      if (!wanted.has(message.uid)) continue;
      if (options.unchangedSince !== undefined && message.modseq > options.unchangedSince) continue;
      const before = [...message.flags].sort().join(' ');
      if (op === 'replace') message.flags = new Set(flags);
      else for (const flag of flags) op === 'add' ? message.flags.add(flag) : message.flags.delete(flag);
      if ([...message.flags].sort().join(' ') !== before) {
        message.modseq = ++mailbox.highestModseq;
        this.emit(mailbox.name, { type: 'flags', uid: message.uid, flags: [...message.flags], modseq: message.modseq });
      }
      updates.push({ uid: message.uid, flags: [...message.flags], modseq: message.modseq });
    }
    return updates;
  }

  async copy(from: string, uids: number[], to: string): Promise<CopyResult> {
    const source = this.mailbox(from);
    const target = this.mailbox(to);
    const wanted = new Set(uids);
    const mapping: Array<[number, number]> = [];
    for (const message of source.messages.filter((m) => wanted.has(m.uid))) {
      const copy: StoredMessage = {
        uid: target.uidNext++,
        modseq: ++target.highestModseq,
        flags: new Set(message.flags),
        internalDate: message.internalDate,
        raw: message.raw,
      };
      target.messages.push(copy);
      mapping.push([message.uid, copy.uid]);
      this.emit(target.name, {
        type: 'exists',
        message: { uid: copy.uid, flags: [...copy.flags], internalDate: copy.internalDate, size: copy.raw.length, modseq: copy.modseq },
      });
    }
    return { uidValidity: target.uidValidity, mapping };
  }

  async move(from: string, uids: number[], to: string): Promise<CopyResult> {
    const result = await this.copy(from, uids, to);
    const source = this.mailbox(from);
    const moved = new Set(result.mapping.map(([src]) => src));
    source.messages = source.messages.filter((m) => !moved.has(m.uid));
    if (moved.size) source.highestModseq++;
    if (moved.size) this.emit(source.name, { type: 'expunge', uids: [...moved] });
    return result;
  }

  async expunge(name: string, uids?: number[]): Promise<number[]> {
    const mailbox = this.mailbox(name);
    const restrict = uids ? new Set(uids) : null;
    const removed = mailbox.messages.filter((m) => m.flags.has('\\Deleted') && (!restrict || restrict.has(m.uid))).map((m) => m.uid);
    const removedSet = new Set(removed);
    mailbox.messages = mailbox.messages.filter((m) => !removedSet.has(m.uid));
    if (removed.length) mailbox.highestModseq++;
    if (removed.length) this.emit(mailbox.name, { type: 'expunge', uids: removed });
    return removed;
  }

  onChange(mailbox: string, listener: ChangeListener, options: OpenOptions = {}): () => void {
    const name = canonicalMailboxName(mailbox);
    let set = this.store.listeners.get(name);
    if (!set) {
      set = new Map();
      this.store.listeners.set(name, set);
    }
    set.set(listener, Boolean(options.claimRecent));
    const unsubscribe = (): void => {
      this.store.listeners.get(name)?.delete(listener);
      this.unsubscribers.delete(unsubscribe);
    };
    this.unsubscribers.add(unsubscribe);
    return unsubscribe;
  }

  async close(): Promise<void> {
    for (const unsubscribe of [...this.unsubscribers]) unsubscribe();
  }
}
