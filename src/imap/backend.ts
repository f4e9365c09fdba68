/**
 * The storage side of the IMAP server. The protocol layer (parser, session, command handlers) only
 * ever talks to storage through these interfaces, so the real encrypted store and the in-memory test
 * backend are interchangeable. Everything is asynchronous.
 *
 * Conventions:
 * - Mailbox names are full paths with `/` as the hierarchy delimiter, in plain Unicode (the protocol
 *   layer does the modified UTF-7 encoding). `INBOX` is always spelled `INBOX` towards the backend,
 *   whatever case the client used.
 * - Flags are IMAP flag strings (`\Seen`, `\Flagged`, `$Label1`...); `\Recent` is never stored.
 * - UIDs are strictly ascending per mailbox and never reused while `uidValidity` stays the same.
 * - Methods reject with a `MedgateError` (see `errors.ts` codes such as IMAP_NO_SUCH_MAILBOX) for
 *   expected failures; the protocol layer maps them to tagged NO responses.
 */

/** Special-use attributes (RFC 6154) a backend may attach to a mailbox. */
export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | '\\Archive' | '\\All' | '\\Flagged';

export interface MailboxInfo {
  /** Full path, `/`-delimited, e.g. `Patients/DUPONT Jean`. */
  name: string;
  subscribed: boolean;
  specialUse?: SpecialUse;
  /** A container that cannot hold messages (rendered as \Noselect). */
  noSelect?: boolean;
  /** Only a subscription: no mailbox has this name (any more). Always with `subscribed: true`. */
  nonExistent?: boolean;
}

/** What the protocol layer needs to know about one message without opening it. */
export interface MessageSummary {
  uid: number;
  flags: string[];
  internalDate: Date;
  /** RFC822.SIZE: size in bytes of the opened (decrypted) message. */
  size: number;
  modseq?: number;
  /** In an `exists` change: this session is the first to see the message (it gets `\Recent`). */
  recent?: boolean;
}

export interface MailboxSnapshot {
  name: string;
  uidValidity: number;
  uidNext: number;
  /** Messages in ascending UID order (the order defines sequence numbers). */
  messages: MessageSummary[];
  specialUse?: SpecialUse;
  /** When true, SELECT behaves like EXAMINE (no flag changes, no expunge). */
  readOnly?: boolean;
  /** CONDSTORE (RFC 7162): highest mod-sequence in the mailbox; required when `supportsModseq`. */
  highestModseq?: number;
  /** Flags the mailbox knows about beyond the system flags (for the FLAGS response). */
  keywords?: string[];
  /**
   * RFC 3501 §2.3.2 \Recent: messages with this UID or above were not seen by any earlier session
   * that selected the mailbox. Omitted by a backend that does not track it (nothing is recent).
   */
  firstRecentUid?: number;
}

/** What STATUS reports but SIZE (RFC 3501 §6.3.10, RFC 7162's HIGHESTMODSEQ). */
export interface MailboxCounts {
  messages: number;
  recent: number;
  uidNext: number;
  uidValidity: number;
  unseen: number;
  deleted: number;
  highestModseq?: number;
}

export interface OpenOptions {
  /** SELECT (not EXAMINE or STATUS): this session takes the recent messages for itself. */
  claimRecent?: boolean;
}

/** One address of an ENVELOPE, as in RFC 3501 (addr-name, addr-adl, addr-mailbox, addr-host). */
export interface EnvelopeAddress {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 3501 ENVELOPE as plain JSON. Strings are the raw header values (encoded words left as-is). */
export interface EnvelopeJson {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

/**
 * One MIME part of a message with the byte offsets the protocol layer needs to serve
 * BODY[section] without re-parsing. Plain JSON so a backend can cache it (encrypted).
 */
export interface MimePartJson {
  /** Lower-case type and subtype, e.g. `text`, `plain`. */
  type: string;
  subtype: string;
  /** Content-Type parameters (lower-case names). */
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  /** Content-Transfer-Encoding as found (default `7bit`). */
  encoding: string;
  md5: string | null;
  disposition: { type: string; params: Record<string, string> } | null;
  language: string[] | null;
  location: string | null;
  /** Offsets into the whole message: header block [headerStart, bodyStart), body [bodyStart, bodyEnd). */
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  /** Number of lines of the body (text/* and message/rfc822). */
  lines: number;
  /** Children of a multipart. */
  parts?: MimePartJson[];
  /** For message/rfc822: the embedded message's envelope and root part. */
  message?: { envelope: EnvelopeJson; root: MimePartJson };
}

/** Cacheable metadata of one message, derived from its opened bytes. */
export interface MessageMeta {
  /** Bumped when the format of this JSON changes, so stale caches are ignored. */
  version: number;
  size: number;
  envelope: EnvelopeJson;
  structure: MimePartJson;
}

export type FlagOperation = 'add' | 'remove' | 'replace';

export interface FlagUpdate {
  uid: number;
  flags: string[];
  modseq?: number;
}

export interface SetFlagsOptions {
  unchangedSince?: number;
}

export interface CopyResult {
  /** UIDVALIDITY of the destination mailbox. */
  uidValidity: number;
  /** Pairs of [source uid, destination uid], in source UID order. */
  mapping: Array<[number, number]>;
}

export interface AppendResult {
  uid: number;
  uidValidity: number;
}

/** Changes pushed by the backend to every session watching a mailbox (IDLE, NOOP, ...). */
export type MailboxChange =
  | { type: 'exists'; message: MessageSummary }
  | { type: 'expunge'; uids: number[] }
  | { type: 'flags'; uid: number; flags: string[]; modseq?: number };

export type ChangeListener = (change: MailboxChange) => void;

/** A message served as it is decrypted (ImapUserSession.streamMessage). */
export interface MessageStream {
  /** Exact number of bytes `chunks` gives when it ends without error. */
  size: number;
  /** The bytes; the last ones only once the message is verified. `return()` releases everything. */
  chunks: AsyncGenerator<Buffer, void, undefined>;
}

/** The authenticated view of one user's mail. One per IMAP connection. */
export interface ImapUserSession {
  /** Canonical user name (used for connection limits and logs). */
  readonly user: string;
  /**
   * True when every message carries a `modseq` that grows on each flag change, snapshots carry
   * `highestModseq` and `setFlags` honours `unchangedSince`: the server then offers CONDSTORE.
   */
  readonly supportsModseq?: boolean;

  listMailboxes(): Promise<MailboxInfo[]>;
  createMailbox(name: string): Promise<void>;
  deleteMailbox(name: string): Promise<void>;
  /** Renames a mailbox and its children. Renaming INBOX moves its messages (RFC 3501 §6.3.5). */
  renameMailbox(from: string, to: string): Promise<void>;
  setSubscribed(name: string, subscribed: boolean): Promise<void>;

  /** Current state of a mailbox (used by SELECT, EXAMINE and STATUS). */
  openMailbox(name: string, options?: OpenOptions): Promise<MailboxSnapshot>;
  /**
   * STATUS without SIZE: the counts alone, from what the backend stores about each message (flags,
   * UIDs), without what only an opening gives (sizes). Absent: STATUS uses openMailbox.
   */
  mailboxCounts?(name: string): Promise<MailboxCounts>;
  /** The opened (decrypted) bytes of one message, byte-exact. */
  getMessage(mailbox: string, uid: number): Promise<Buffer>;
  /**
   * The same bytes as getMessage, as a stream of a size known in advance, for a large message the
   * backend can stream (null: use getMessage). Its iteration throws when the message turns out
   * not to open (docs/secure-message-format.md §11.1): what was written of it must then not be
   * completed — the FETCH handler closes the connection in the middle of the literal.
   */
  streamMessage?(mailbox: string, uid: number): Promise<MessageStream | null>;
  /** Cached metadata, if the backend keeps some; null means "compute it". */
  getMessageMeta?(mailbox: string, uid: number): Promise<MessageMeta | null>;
  /** Called after the protocol layer computed metadata, so the backend may cache it. */
  storeMessageMeta?(mailbox: string, uid: number, meta: MessageMeta): Promise<void>;

  append(mailbox: string, raw: Buffer, flags: string[], internalDate: Date): Promise<AppendResult>;
  /**
   * Applies a flag change and returns the resulting flags of every message that still exists.
   * With `unchangedSince` (CONDSTORE), messages whose modseq is higher are left alone and omitted
   * from the result; the check and the change must be atomic.
   */
  setFlags(mailbox: string, uids: number[], op: FlagOperation, flags: string[], options?: SetFlagsOptions): Promise<FlagUpdate[]>;
  copy(from: string, uids: number[], to: string): Promise<CopyResult>;
  /** Copy then remove from the source; the removal is announced as an `expunge` change. */
  move(from: string, uids: number[], to: string): Promise<CopyResult>;
  /** Removes messages flagged \Deleted (only those in `uids` when given); returns removed UIDs. */
  expunge(mailbox: string, uids?: number[]): Promise<number[]>;

  /**
   * Watches a mailbox; the returned function stops watching. Changes reach the listener in the
   * order they happened. With `claimRecent`, new messages this listener is the first to see are
   * marked `recent` (and are no longer recent for anyone else).
   */
  onChange(mailbox: string, listener: ChangeListener, options?: OpenOptions): () => void;
  /**
   * Resolves once every change made so far has reached this session's listeners. The protocol layer
   * awaits it before reporting changes, so a client's own APPEND or COPY into the selected mailbox
   * is announced (EXISTS) before the tagged reply. Backends that notify synchronously omit it.
   */
  settle?(): Promise<void>;
  /** The connection ended: release keys and listeners. */
  close(): Promise<void>;
}

export interface AuthMeta {
  remoteAddress: string;
  /** `LOGIN` or `PLAIN`. */
  mechanism: string;
}

export interface ImapBackend {
  /**
   * Checks credentials and unlocks the user's store; null means "bad credentials". An error whose
   * `code` is `LOGIN_RATE_LIMITED` means the backend refused the attempt unseen (too many failures
   * from this address across accounts): the client gets NO [UNAVAILABLE], a temporary refusal.
   */
  authenticate(user: string, password: string, meta: AuthMeta): Promise<ImapUserSession | null>;
}
