import type { Readable } from 'node:stream';

/**
 * The storage interface. Every module reaches persistent state through these repositories, never
 * through tables. Everything is asynchronous so that the SQLite implementation (embedded default)
 * and a PostgreSQL implementation (shared by several nodes) are interchangeable.
 */

export type EntryStatus = 'active' | 'suspended' | 'revoked';
/** PER: a person's mailbox; ORG: an organisation's; APP: an application (lab/practice software, RMP). */
export type MailboxType = 'PER' | 'ORG' | 'APP';
export type IdentifierType = 'RPPS' | 'ADELI' | 'FINESS' | 'INTERNAL';

export interface DirectoryEntry {
  /** Lower-cased mail address: the key. */
  address: string;
  mailboxType: MailboxType;
  idType: IdentifierType | null;
  idValue: string | null;
  /** `8`+RPPS or `0`+ADELI for persons. */
  nationalId: string | null;
  civility: string | null;
  familyName: string | null;
  givenName: string | null;
  professionCode: string | null;
  professionLabel: string | null;
  specialtyCode: string | null;
  specialtyLabel: string | null;
  organisation: string | null;
  status: EntryStatus;
  certificatePem: string | null;
  pgpPublicKey: string | null;
  /** Where the entry came from: `ans` (national extraction), `local` (an account here), `peer:<domain>`. */
  source: string;
  updatedAt: string;
}

export type UpsertOutcome = 'inserted' | 'updated' | 'unchanged';

export interface DirectoryRepo {
  upsert(entry: DirectoryEntry): Promise<UpsertOutcome>;
  get(address: string): Promise<DirectoryEntry | undefined>;
  /** Matches idValue or nationalId. */
  findByIdentifier(identifier: string): Promise<DirectoryEntry[]>;
  list(filter?: { source?: string; domain?: string }): Promise<DirectoryEntry[]>;
  setStatus(address: string, status: EntryStatus): Promise<boolean>;
  /** Replaces the whole whitelist with these domains (lower-cased); returns counts. */
  replaceWhitelist(domains: string[]): Promise<{ added: number; removed: number; kept: number }>;
  isWhitelisted(domain: string): Promise<boolean>;
  listWhitelist(): Promise<string[]>;
}

export type AccountKind = 'person' | 'application' | 'rmp';

export interface Account {
  address: string;
  kind: AccountKind;
  disabled: boolean;
  /** Armored OpenPGP private key, encrypted (argon2 S2K) with the account's password. */
  wrappedPgpKey: string;
  /** The same private key encrypted with the one-time recovery key. */
  recoveryWrappedPgpKey: string;
  pgpPublicKey: string;
  pgpFingerprint: string;
  certificatePem: string;
  /** Certificate private key (PKCS#8), encrypted under the account's password. */
  wrappedCertKey: string;
  /** Argon2/scrypt-class password verifier (never the password). */
  passwordVerifier: string;
  /**
   * Application accounts only: the private key encrypted to the gateway's custody key, so that a
   * client-certificate login (no password) can unlock it. Null for persons and record servers.
   */
  custodyWrappedPgpKey: string | null;
  /**
   * The per-user key that encrypts cached message metadata and folder names and seals own copies,
   * itself encrypted to the account's OpenPGP key and signed by it (so only a logged-in session can
   * read the cache, and nobody who can write the store can put a key of his own here: MetaKey).
   */
  wrappedMetaKey: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface AccountRepo {
  create(account: Account): Promise<void>;
  get(address: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  update(address: string, changes: Partial<Omit<Account, 'address' | 'createdAt'>>): Promise<boolean>;
  /**
   * Sets the account's wrapped metadata (account) key unless it already has one, in one statement,
   * and returns the one it has now: of two first logins on two nodes, both end up with the key that
   * was written first (own copies are sealed under it: a second key would leave them unreadable).
   * Undefined when the account does not exist.
   */
  initWrappedMetaKey(address: string, wrapped: string): Promise<string | undefined>;
  /**
   * Replaces the wrapped metadata key only if it is still `expected` (one conditional statement):
   * false when another login changed it meanwhile.
   */
  replaceWrappedMetaKey(address: string, expected: string, wrapped: string): Promise<boolean>;
}

export interface AuditRecord {
  seq: number;
  at: string;
  /** Who acted: an account address, `operator`, `system`, a peer domain. */
  actor: string;
  action: string;
  outcome: 'ok' | 'refused' | 'failed';
  messageId: string | null;
  /** Non-medical details: codes, addresses, counts. */
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Builds the next audit record from the chain's head (undefined: the first record). */
export type AuditBuild = (prev: { seq: number; hash: string } | undefined) => AuditRecord;

export interface AuditRepo {
  /**
   * Appends atomically: reads the last hash and writes the new record in one transaction, so that
   * two writers (two nodes) never fork the chain. `build` computes the record from the previous hash.
   */
  append(build: AuditBuild): Promise<AuditRecord>;
  list(from?: number, limit?: number): Promise<AuditRecord[]>;
  count(): Promise<number>;
}

/** Small key/value table for gateway state (schema version, instance ids, demo flag). */
export interface SettingsRepo {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/**
 * Failed logins per key (every login limit: per account and address, per address), counted in a
 * sliding window. SQLite keeps them in memory (one process); PostgreSQL in a table, so that every
 * node of a cluster counts the same failures. Keys are namespaced by the caller (`smtp:`, `imap:`...).
 */
export interface LoginFailureRepo {
  /** Records one failure of `key` at `now`; returns how many failures of it are within `windowMs`. */
  record(key: string, windowMs: number, now?: number): Promise<number>;
  count(key: string, windowMs: number, now?: number): Promise<number>;
  clear(key: string): Promise<void>;
}

/** A change in one stored mailbox, as seen by every IMAP session of that mailbox. */
export type StoredMailboxChange =
  | { type: 'exists'; mailboxId: number; uid: number }
  | { type: 'expunge'; mailboxId: number; uids: number[] }
  | { type: 'flags'; mailboxId: number; uid: number; flags: string[]; modseq: number };

/**
 * Mailbox changes between the nodes of a cluster (PostgreSQL LISTEN/NOTIFY). This node's own
 * sessions hear its changes in process (src/mailbox/mail-events.ts); the feed carries them to the
 * other nodes, and theirs to this one.
 */
export interface ChangeFeed {
  /** Tells the other nodes. Never throws: a lost notification only delays IDLE until the next command. */
  publish(change: StoredMailboxChange): void;
  /** Changes published by other nodes. */
  onRemote(listener: (change: StoredMailboxChange) => void): () => void;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  max: number;
  /** Statements sent since start (each one a round trip to the database). */
  roundTrips: number;
}

/**
 * What a migration that seals values kept in clear by an older medgate needs from the filing data
 * key. The caller gives it (src/filing/part-names.ts): the store never reads a key itself.
 */
export interface MigrationKeys {
  /** A filed document's part name as stored: its keyed hash (lookup) and the name encrypted. */
  sealPartName(messageId: string, part: string): SealedPartName;
  /** A value encrypted as the filing store encrypts titles (a document's author JSON). */
  encrypt(plain: string): string;
}

export interface SealedPartName {
  partHash: string;
  partEnc: string;
}

export interface MigrateOptions {
  /** The keys, read when a migration needs them; undefined: the key file is not there. */
  keys?: () => MigrationKeys | undefined;
  /**
   * SQLite: how long to keep trying to empty the write-ahead log after a migration that removed
   * clear values, while another process reads an older snapshot (default 30 s).
   */
  walPurgeWaitMs?: number;
}

/** What `Store.purgeFreedSpace` did. */
export interface PurgeReport {
  /** SQLite: the database file's size before and after (bytes). */
  fileBytes?: { before: number; after: number };
  /** PostgreSQL: the tables rewritten. */
  tables?: string[];
  /**
   * PostgreSQL: whether pg_statistic (which samples column values) was rewritten; `not-permitted`
   * when this role (neither a superuser nor the database's owner) may not, and an operator has to.
   */
  statistics?: 'rewritten' | 'not-permitted';
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  directory: DirectoryRepo;
  accounts: AccountRepo;
  audit: AuditRepo;
  settings: SettingsRepo;
  mail: MailRepo;
  queue: QueueRepo;
  /** Patient filing for record servers (src/filing/). */
  filing: FilingRepo;
  loginFailures: LoginFailureRepo;
  /** Cross-node mailbox changes; absent for a store only one process uses (SQLite). */
  changes?: ChangeFeed;
  /**
   * One decision, one transaction (in the spirit of Gluon's `Write(op)`): runs `work` with a
   * transactional view of the store, commits when it resolves, rolls back when it throws. What
   * `work` reads through `tx` cannot change under it before the commit, so a check and the write it
   * guards (STORE UNCHANGEDSINCE, the three steps of MOVE) are one step for every other session of
   * every node, and a crash at any point leaves all or nothing.
   *
   * - PostgreSQL: READ COMMITTED with row locks (`tx.mail.lockMailbox`: SELECT ... FOR NO KEY
   *   UPDATE); a deadlock or serialization failure runs `work` again (so it must only compute and
   *   call `tx`, never announce anything itself: announce after `write` resolves).
   * - SQLite: BEGIN IMMEDIATE (the database's one write lock), writers of this process queued.
   *   better-sqlite3 is synchronous, so `tx` answers at once; `work` must await only `tx` calls
   *   (no timer, file or network in between): a `work` that yields to the event loop is rolled back
   *   with STORE_TX_YIELDED, since the one connection would otherwise mix other writes into it.
   *
   * Never call `write` (or FilingRepo.exclusiveForIdentity) from inside `work`: on SQLite the inner
   * call would wait for the outer one for ever.
   *
   * `durable: false` (flags, expunges) may skip the fsync on SQLite, as the group commit does for
   * them: a crash of the process still loses nothing, a power cut may undo the last ones.
   */
  write<T>(work: (tx: StoreTx) => Promise<T>, options?: { durable?: boolean }): Promise<T>;
  /**
   * Applies pending migrations; returns the schema version reached. A migration that turns clear
   * values into sealed ones (SQLite 13, PostgreSQL 4: part names) asks `options.keys` for the
   * filing data key, only when it has rows to convert.
   */
  migrate(options?: MigrateOptions): Promise<number>;
  /**
   * Rewrites the store so that what it no longer holds (deleted rows; the old versions of rewritten
   * rows, such as folders renamed to their pseudonyms) cannot be read from its files any more
   * (`medgate store purge`). SQLite: VACUUM with secure_delete, then the WAL emptied; PostgreSQL:
   * VACUUM FULL of the tables that held names, and of the planner's statistics when a superuser or
   * the database's owner. `waitMs` (default 30 s SQLite, 10 s PostgreSQL): how long it waits for
   * other sessions' older snapshots to end (they would keep old versions) before it fails saying so.
   */
  purgeFreedSpace(options?: { waitMs?: number }): Promise<PurgeReport>;
  /**
   * Runs `work` while every other process sharing this store waits for its own turn: the start-up
   * steps (test CA, gateway keys and TLS, demo practice) then run once, whoever starts first. Held
   * by the database connection (PostgreSQL) or an OS file lock (SQLite): a process that dies
   * releases it.
   */
  withStartupLock<T>(work: () => Promise<T>): Promise<T>;
  /** One round trip to the database; throws STORE_UNAVAILABLE when it cannot be reached (`/healthz`). */
  ping(): Promise<void>;
  /** Connection pool use (`/metrics`); absent for an embedded database. */
  poolStats(): PoolStats | undefined;
  /**
   * For a long-running process (`serve`): the store's background upkeep moves off the calling thread
   * where the store can (SQLite: WAL checkpoints on a thread of their own, src/store/sqlite/checkpointer.ts).
   * `onFallback` is told if that cannot be done and the upkeep stays where it was.
   */
  backgroundUpkeep?(onFallback: (reason: string) => void): void;
  close(): Promise<void>;
}

/* ---------------------------------------------------------------------------------------------
 * Mail: mailboxes, messages (sealed blobs, byte-exact), encrypted metadata cache, delivery queue.
 * ------------------------------------------------------------------------------------------- */

export type SpecialUse = '\\Inbox' | '\\Sent' | '\\Drafts' | '\\Trash' | '\\Junk' | null;

export interface Mailbox {
  id: number;
  owner: string;
  /** Hierarchy delimiter `/`; INBOX is always `INBOX`. */
  name: string;
  specialUse: SpecialUse;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  subscribed: boolean;
  /** IMAP \\Recent: messages above this UID have not been seen by any selecting session yet. */
  recentUid: number;
}

export interface StoredMessage {
  mailboxId: number;
  uid: number;
  /** sha256 (hex) of the sealed bytes. */
  blobId: string;
  flags: string[];
  internalDate: string;
  /** Size of the sealed bytes (the opened size lives in the encrypted metadata cache). */
  sealedSize: number;
  modseq: number;
}

export interface Placement {
  owner: string;
  mailbox: string;
  flags?: string[];
  /**
   * Idempotence key: a second placement with the same key in the same mailbox is ignored, so a
   * delivery retried after a crash never puts the same message twice in a mailbox.
   */
  deliveryKey: string;
  /**
   * The owner's encrypted metadata entry for these bytes (MailRepo.putMeta's `encrypted`), written
   * in the commit's own transaction: IMAP APPEND records that the user stored the message himself
   * with the message, so the OK waits for one durable commit and no crash leaves the message
   * without it. Written for a duplicate delivery key too (the same facts, retried). A function is
   * given the blob id the commit computes (entries are bound to their message: MetaKey.encrypt).
   */
  meta?: string | ((blobId: string) => string);
  /**
   * IMAP \\Recent (RFC 3501 §2.3.2) for the caller: the mailbox's recent watermark is raised to the
   * new message's UID in the commit's own transaction, and `placed[i].recentAfter` says from which
   * UID on the caller took it. An APPEND into the mailbox its session has selected: that session,
   * and no other one of any node, then holds \\Recent for it (the others' claims find it taken).
   */
  claimRecent?: boolean;
}

export interface QueueRecipient {
  recipient: string;
  /** RFC 3461 */
  notify: string[] | null;
  orcpt: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: string;
  lastError: string | null;
  delayNotified: boolean;
  updatedAt: string;
}

export interface QueueItem {
  id: string;
  blobId: string;
  envelopeFrom: string;
  /** Message-ID of the sealed message (not medical). */
  messageId: string;
  createdAt: string;
  expiresAt: string;
  /** RFC 3461 RET and ENVID. */
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  recipients: QueueRecipient[];
  /** The node working the item and until when (a cluster's lease), or null when no node holds it. */
  lease: { owner: string; until: string } | null;
}

export interface NewQueueItem {
  id: string;
  envelopeFrom: string;
  messageId: string;
  expiresAt: string;
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  recipients: Array<{ recipient: string; notify: string[] | null; orcpt: string | null }>;
}

/**
 * A sealed message written to a file (large messages: never held in memory whole). The file must
 * be fsynced, private (0600) and on the same file system as the data directory: commit moves it.
 */
export interface SealedFile {
  path: string;
  size: number;
  /** Lower-case hex sha256 of the file's bytes: the blob id. */
  sha256: string;
}

export type SealedBytes = Buffer | SealedFile;

export function isSealedFile(s: SealedBytes): s is SealedFile {
  return !Buffer.isBuffer(s);
}

/** A stored sealed message, readable as a stream whatever its size. */
export interface BlobHandle {
  size: number;
  /** A fresh stream of the sealed bytes at each call. */
  stream(): Readable;
  /** Up to `max` first bytes (enough for the header block: routing checks never read the body). */
  head(max: number): Promise<Buffer>;
}

export interface CommittedDelivery {
  blobId: string;
  placed: Array<{
    owner: string; mailbox: string; mailboxId: number; uid: number; duplicate: boolean;
    /**
     * With Placement.claimRecent, for a new message: the recent watermark before this commit raised
     * it. The caller holds \\Recent for every UID above it up to `uid` (no other claim can get them).
     */
    recentAfter?: number;
  }>;
  queued: boolean;
}

/** A mailbox's counts and counters, as of one read (MailRepo.countMessages). */
export interface MessageCounts {
  messages: number;
  /** Without \\Seen. */
  unseen: number;
  /** With \\Deleted. */
  deleted: number;
  /** Above the mailbox's \\Recent watermark (claimed by no session yet). */
  recent: number;
  uidNext: number;
  highestModseq: number;
}

export interface MailRepo {
  /** Creates the mailbox if missing; `subscribed: false` for a client's CREATE (RFC 3501 §6.3.3). */
  ensureMailbox(owner: string, name: string, specialUse?: SpecialUse, options?: { subscribed?: boolean }): Promise<Mailbox>;
  /** Names still subscribed whose mailbox was deleted (RFC 3501 §6.3.6: a subscription outlives DELETE). */
  listOrphanSubscriptions(owner: string): Promise<string[]>;
  getMailbox(owner: string, name: string): Promise<Mailbox | undefined>;
  getMailboxById(id: number): Promise<Mailbox | undefined>;
  listMailboxes(owner: string): Promise<Mailbox[]>;
  renameMailbox(owner: string, from: string, to: string): Promise<void>;
  deleteMailbox(owner: string, name: string): Promise<void>;
  /** Unsubscribing also forgets a subscription whose mailbox no longer exists. */
  setSubscribed(owner: string, name: string, subscribed: boolean): Promise<void>;
  /**
   * IMAP \\Recent (RFC 3501 §2.3.2): raises the mailbox's recent watermark to `upToUid` and returns
   * the previous one, atomically, so exactly one session gets each message as recent.
   */
  claimRecent(mailboxId: number, upToUid: number): Promise<number>;
  /**
   * The durable commit: stores the sealed bytes once, places them in every mailbox and queues the
   * remote recipients, all in one transaction. Returns only after the transaction is on disk.
   */
  commit(sealed: SealedBytes, placements: Placement[], queue?: NewQueueItem, internalDate?: Date): Promise<CommittedDelivery>;
  /** The whole sealed bytes in memory (IMAP FETCH, export): for streaming use openBlob. */
  getBlob(blobId: string): Promise<Buffer | undefined>;
  openBlob(blobId: string): Promise<BlobHandle | undefined>;
  /** Deletes blob files no row refers to (a crash between writing one and its commit); returns how many. */
  removeOrphanBlobFiles(): Promise<number>;
  listMessages(mailboxId: number): Promise<StoredMessage[]>;
  /**
   * What STATUS reports, counted by the store in one statement (a client polls STATUS on every
   * folder: a 10 000-message INBOX must not come back as 10 000 rows each time). Undefined when
   * the mailbox does not exist.
   */
  countMessages(mailboxId: number): Promise<MessageCounts | undefined>;
  getMessage(mailboxId: number, uid: number): Promise<StoredMessage | undefined>;
  /** Returns the messages whose flags changed, with their new flags and modseq. */
  setFlags(mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): Promise<StoredMessage[]>;
  /** Copies messages (same blob, new UIDs); returns [sourceUid, newUid] pairs. */
  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<[number, number]>>;
  /** Removes messages (all `\Deleted` ones when uids is omitted); returns the removed UIDs. */
  expunge(mailboxId: number, uids?: number[]): Promise<number[]>;
  /** Encrypted per-user metadata (envelope, structure, size), keyed by owner and blob. */
  getMeta(owner: string, blobId: string): Promise<string | undefined>;
  putMeta(owner: string, blobId: string, encrypted: string): Promise<void>;
  /** The owner's entries in key order after `afterKey` ('' for the first page), at most `limit`. */
  listMeta(owner: string, afterKey: string, limit: number): Promise<Array<{ key: string; data: string }>>;
  /**
   * Rewrites entries, each only if it still holds `expected` (one transaction); returns how many
   * were rewritten. An entry another session wrote meanwhile keeps what it wrote.
   */
  replaceMeta(owner: string, entries: Array<{ key: string; expected: string; data: string }>): Promise<number>;
}

/**
 * The mail repository inside a store transaction (`Store.write`). Same meaning as the MailRepo
 * methods of the same name; every call is part of the one transaction.
 */
export interface MailTx {
  /**
   * The mailbox as it is now, locked until the transaction ends (PostgreSQL: its row, so every
   * MODSEQ and UID decision of the mailbox is serialised across nodes; SQLite: the write lock is
   * held already). Lock several mailboxes in ascending id order. Undefined when it does not exist.
   */
  lockMailbox(mailboxId: number): Promise<Mailbox | undefined>;
  /**
   * MailRepo.commit inside the transaction: several deliveries that must go together (a record
   * request's items), or a delivery and its filing rows, commit or vanish as one. A sealed file (a
   * large message) is the store's once the transaction commits, as with MailRepo.commit; when it
   * rolls back the file is left where it was (SQLite moves it back out of its blob files), so the
   * caller may commit it again, and removes it itself.
   */
  commit(sealed: SealedBytes, placements: Placement[], queue?: NewQueueItem, internalDate?: Date): Promise<CommittedDelivery>;
  /** The messages of `uids` that exist, in UID order. */
  getMessages(mailboxId: number, uids: number[]): Promise<StoredMessage[]>;
  setFlags(mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): Promise<StoredMessage[]>;
  copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<[number, number]>>;
  expunge(mailboxId: number, uids?: number[]): Promise<number[]>;
  /**
   * Creates the mailbox (special use from its name, as ensureMailbox); undefined when one of that
   * name exists already (created by another transaction meanwhile too: PostgreSQL waits for it).
   */
  createMailbox(owner: string, name: string, options?: { subscribed?: boolean }): Promise<Mailbox | undefined>;
  /** MailRepo.claimRecent in the transaction: a COPY or MOVE into its session's selected mailbox takes \\Recent with the copies. */
  claimRecent(mailboxId: number, upToUid: number): Promise<number>;
}

/** What `Store.write` gives `work`. Grows as more decisions move into one transaction. */
export interface StoreTx {
  mail: MailTx;
  /**
   * The filing repository on the transaction's connection: a delivery and its filing rows
   * (FilingService.fileIn) commit together. Its exclusiveForIdentity joins the transaction.
   */
  filing: FilingRepo;
}

export type QueueDepth = Record<QueueRecipient['status'], number>;

export interface QueueRepo {
  /** Items with a pending recipient whose next attempt is due (leased or not). */
  due(now: Date, limit: number): Promise<QueueItem[]>;
  /**
   * Claims up to `limit` due items for `owner` (a node id) until `now + leaseMs`: items leased by
   * another owner and not yet expired are skipped, so each item is worked by one node at a time.
   * A dead node's items return to the others when its lease runs out.
   */
  claim(now: Date, limit: number, owner: string, leaseMs: number): Promise<QueueItem[]>;
  /** Extends the lease of items `owner` still holds (a long delivery). */
  renew(ids: string[], owner: string, leaseMs: number, now?: Date): Promise<void>;
  /** Gives an item back (its delivery pass ended). */
  release(id: string, owner: string): Promise<void>;
  /** Recipients by status (`/metrics`). */
  depth(): Promise<QueueDepth>;
  get(id: string): Promise<QueueItem | undefined>;
  list(): Promise<QueueItem[]>;
  updateRecipient(id: string, recipient: string, changes: Partial<Omit<QueueRecipient, 'recipient'>>): Promise<void>;
  /** Makes every pending (or failed, with `includeFailed`) recipient due now. */
  retryNow(id: string, includeFailed?: boolean): Promise<number>;
  remove(id: string): Promise<boolean>;
}

// ---- filing store (record servers, src/filing/) -----------------------------------------------
// Rows hold patient identity encrypted (`*Enc`, AES-GCM under the filing data key) and keyed hashes
// (`*Hash`, HMAC) for lookups: no name, birth date or INS in clear.

export type PatientStatus = 'active' | 'reconcile' | 'merged';

export interface PatientRow {
  id: string;
  status: PatientStatus;
  mergedInto: string | null;
  /** Encrypted JSON of the patient identity (names, birth date, sex, INS). */
  identityEnc: string;
  insHash: string | null;
  /** HMAC of `NOM|PRENOM|YYYY-MM-DD`. */
  traitsHash: string;
  /** HMAC of `NOM|YYYY-MM-DD` and `PRENOM|YYYY-MM-DD`: finds near matches for reconciliation. */
  familyBirthHash: string;
  givenBirthHash: string;
  /** Encrypted access code a doctor presents to ask for the record. */
  accessCodeEnc: string;
  /**
   * The treating doctor the operator set (`medgate patients set-treating`); null: the writer of the
   * first summary filed that was not written by a replacement (src/filing/filing-service.ts).
   */
  treatingDoctor?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DocumentRow {
  id: string;
  /** Null while the item has no patient (no identity in the routing header): it waits in reconciliation. */
  patientId: string | null;
  /** Outer Message-ID of the sealed message; with `partHash`, the idempotence key. */
  messageId: string;
  /**
   * Keyed hash (HMAC under the filing data key) of the part name with the message id, for finding
   * a message's documents again (refiling is idempotent). The part name is an attachment's file
   * name, which hospitals make of the patient's name (20261204_CRH_DUPONT_Jean_1.pdf): it is never
   * stored in clear (src/filing/part-names.ts).
   */
  partHash: string;
  /** The part name, encrypted like the title, to show it (console, API, `patients show`, export). */
  partEnc: string;
  type: string;
  tab: string;
  date: string;
  senderAddress: string;
  senderRole: string | null;
  /** Titles come from subjects, which may name the patient: encrypted. */
  titleEnc: string | null;
  blobId: string;
  contentDigest: string | null;
  verified: boolean;
  signerFingerprint: string | null;
  /**
   * The author when it is not the sender (src/filing/authors.ts `DocumentAuthor`: a verified lab or
   * XDM author, or "transmitted, author not verified"), as JSON encrypted like the title: an
   * unverified claim names whoever a forwarded message's From shows, a patient writing to the
   * doctor included. Null: the sender wrote it.
   */
  authorEnc: string | null;
  /** `replacement`: a summary its writer signed as a replacement (src/message/classify); null otherwise. */
  writtenAs?: string | null;
  supersededBy: string | null;
  filedAt: string;
  /** Filing order (monotonic), for `items?since=`. */
  seq: number;
}

export type ReconcileStatus = 'open' | 'merged' | 'separated';

export interface ReconcileRow {
  id: string;
  /** The patient (status `reconcile`) created for the uncertain item, or null for an unidentified item. */
  patientId: string | null;
  /** The existing patient it may be. */
  candidateId: string | null;
  /** Fixed code: `ins-traits-differ`, `ins-differs`, `given-name-differs`, `family-name-differs`, `no-patient`. */
  reason: string;
  /** For `no-patient`: the message waiting for a patient. */
  messageId: string | null;
  status: ReconcileStatus;
  createdAt: string;
  resolvedAt: string | null;
}

export type RequestBasis = 'treating' | 'access-code' | 'emergency';

export interface RecordRequestRow {
  id: string;
  patientId: string;
  doctor: string;
  basis: RequestBasis;
  documentId: string | null;
  /** Emergency justification (may be medical): encrypted. */
  reasonEnc: string | null;
  /** `viewed`: an access granted in the record console (read online, nothing sent). */
  outcome: 'sent' | 'refused' | 'viewed';
  at: string;
}

/**
 * A read receipt (MDN) owed to a sender: written with the filing (same transaction) or with the
 * refusal, sent afterwards, marked sent. `disposition` is the RFC 8098 Disposition value without
 * the mode; `error` the text of its Error field (fixed texts: never a patient's name).
 */
export interface ReceiptRow {
  /** Sealed (outer) Message-ID of the item. */
  messageId: string;
  recordServer: string;
  mdnTo: string;
  /** Message-ID the sender wrote (what its client matches the receipt against). */
  originalMessageId: string;
  disposition: 'processed' | 'processed/error' | 'deleted/error';
  error: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface FilingRepo {
  /**
   * Runs one filing decision (match the patient, then create it or file under it) so that no other
   * decision about an identity sharing one of `hashes` (the item's INS, traits, name+birth and
   * given+birth hashes) runs at the same time, on any node: one patient per identity whichever
   * node files. `work` runs in ONE transaction and must make every read and write of the decision
   * through the repository it is given. PostgreSQL: a transaction-level advisory lock per hash
   * (pg_advisory_xact_lock, taken first, in sorted order: no deadlock), released by the COMMIT or
   * ROLLBACK of the decision's own writes. SQLite: one BEGIN IMMEDIATE transaction (the database's
   * write lock, which other processes on the file wait for). As in Store.write, `work` must await
   * only that repository. Called on `tx.filing` (Store.write), it joins that transaction.
   */
  exclusiveForIdentity<T>(hashes: string[], work: (repo: FilingRepo) => Promise<T>): Promise<T>;
  insertPatient(p: PatientRow, prefixHashes: string[]): Promise<void>;
  updatePatient(id: string, changes: Partial<Omit<PatientRow, 'id' | 'createdAt'>>, prefixHashes?: string[]): Promise<void>;
  getPatient(id: string): Promise<PatientRow | undefined>;
  /** Patients with this hash in the named column (merged ones only with `includeMerged`). */
  findPatients(column: 'insHash' | 'traitsHash' | 'familyBirthHash' | 'givenBirthHash', hash: string, includeMerged?: boolean): Promise<PatientRow[]>;
  /** Patients (not merged) whose family name has this prefix hash. */
  searchByPrefix(prefixHash: string): Promise<PatientRow[]>;
  listPatients(): Promise<PatientRow[]>;
  /**
   * Inserts documents; those whose (messageId, partHash) already exists are skipped. Returns the inserted ids.
   * `receipts` are recorded in the same transaction (existing ones kept).
   */
  insertDocuments(docs: Omit<DocumentRow, 'seq'>[], receipts?: ReceiptRow[]): Promise<string[]>;
  /** Records a receipt owed (kept as is when one exists for the item and record server). Returns whether it was new. */
  insertReceipt(r: ReceiptRow): Promise<boolean>;
  /** Receipts recorded and not yet marked sent, oldest first. */
  pendingReceipts(limit?: number): Promise<ReceiptRow[]>;
  getReceipt(messageId: string, recordServer: string): Promise<ReceiptRow | undefined>;
  markReceiptSent(messageId: string, recordServer: string, at: string): Promise<void>;
  getDocument(id: string): Promise<DocumentRow | undefined>;
  documentsOfMessage(messageId: string): Promise<DocumentRow[]>;
  documentsOfPatient(patientId: string): Promise<DocumentRow[]>;
  documentsSince(seq: number, limit: number): Promise<DocumentRow[]>;
  setSupersededBy(ids: string[], by: string): Promise<void>;
  /** Moves every document of `from` (or of the unidentified message) to `to`. */
  moveDocuments(from: { patientId: string } | { messageId: string }, to: string): Promise<number>;
  insertReconcile(r: ReconcileRow): Promise<void>;
  getReconcile(id: string): Promise<ReconcileRow | undefined>;
  listReconcile(status?: ReconcileStatus): Promise<ReconcileRow[]>;
  resolveReconcile(id: string, status: 'merged' | 'separated', at: string): Promise<void>;
  insertRequest(r: RecordRequestRow): Promise<void>;
  listRequests(basis?: RequestBasis): Promise<RecordRequestRow[]>;
}

/** A placement's metadata entry for the blob the commit stores (Placement.meta). */
export function placementMeta(p: Pick<Placement, 'meta'>, blobId: string): string | undefined {
  return typeof p.meta === 'function' ? p.meta(blobId) : p.meta;
}
