import { randomUUID } from 'node:crypto';
import type * as openpgp from 'openpgp';
import type { GatewayContext } from '../context.js';
import { ImapError, ImapErrorCode } from '../imap/errors.js';
import type {
  AppendResult, ChangeListener, CopyResult, FlagOperation, FlagUpdate, ImapUserSession, MailboxInfo,
  MailboxCounts, MailboxSnapshot, MessageMeta, MessageStream, MessageSummary, OpenOptions, SetFlagsOptions, SpecialUse,
} from '../imap/backend.js';
import type { MessageSealer } from '../message/sealer.js';
import type { StoredMailboxChange } from './mail-events.js';
import type { CommittedDelivery, Mailbox, StoredMessage } from '../store/types.js';
import type { MetaKey } from './meta-key.js';
import type { SharedAccount } from './open-accounts.js';
import { toCrlf } from '../util/crlf.js';
import { isOwnCopyAead, OWN_COPY_HEADER } from '../crypto/seal/own-copy-aead.js';
import type { AppendedCopy } from '../message/seal-own-copy.js';
import { crashPoint } from '../util/crash-point.js';
import { openStored, type OpenedFacts, type OpenedMessage } from './opened-message.js';
import { openStoredStream, readerSigner, servedStream, streamFacts, STREAM_MESSAGE_BYTES } from './opened-stream.js';
import type { StreamOpening } from '../crypto/seal/open-stream.js';
import { smimeReader, type SmimeReader } from './smime-reader.js';
import { comparableSentBytes, messageIdOf, SENT_MATCH_WINDOW_MS, withoutTransportOnlyNotice } from './sent-copy.js';
import { PATIENTS_ROOT } from './patient-folders.js';
import { cacheKeysOf, displayMailboxName, isShown, recordFolderName, standsFor, storedMailboxName } from './folder-names.js';

/** A client's own copy as its sessions serve it, and its IMAP metadata once computed. */
interface OwnCopy { bytes: Buffer; facts: OpenedFacts; imap?: MessageMeta }

/** What an own copy (APPEND) opens to: the client's bytes as given (CRLF), no verdict above them. */
function ownCopyFacts(raw: Buffer): OwnCopy {
  const bytes = toCrlf(raw);
  return { bytes, facts: { v: 2, prefix: '', size: bytes.length, ownCopy: true, fingerprint: null, error: null, patientFolder: null } };
}

/** Own copies being sealed and parsed on this node now (MessageSealer.analyseAppended: where to parse). */
let appendsInProgress = 0;

const STANDARD: Array<[string, SpecialUse | null]> = [['INBOX', null], ['Sent', '\\Sent'], ['Drafts', '\\Drafts'], ['Trash', '\\Trash'], ['Junk', '\\Junk']];
/** Messages opened at once when a mailbox is first listed: keeps every worker thread busy. */
const OPEN_CONCURRENCY = 4;

/** Maps with at most `limit` calls in flight, keeping the input order in the result. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * One user's IMAP view of the encrypted store. Messages are opened with the key unlocked at LOGIN,
 * inside this session only; what listing needs (size, envelope, structure, patient folder) is cached
 * encrypted under the user's metadata key, so a resync does not decrypt everything again.
 */
export class StoreUserSession implements ImapUserSession {
  readonly supportsModseq = true;
  private readonly pgpKey: openpgp.PrivateKey;
  private readonly metaKey: MetaKey;
  private smime: SmimeReader | undefined;
  private closed = false;
  private readonly readIds = new Map<string, { id: number; until: number }>();
  /**
   * The rows `message()` read, for one second: a FETCH of a message's body and metadata asked the
   * store for the same row three times (streamMessage, getMessage, getMessageMeta). Only what a row
   * never changes is used from here (blob, size, internal date: a UID names one message for good);
   * flags and MODSEQ always come from the store. A message expunged meanwhile is either still
   * readable (RFC 3501 allows it until the expunge is reported) or MESSAGE_GONE when its blob is.
   */
  private readonly rows = new Map<string, { m: StoredMessage; until: number }>();
  private readonly unsubscribers = new Set<() => void>();
  private readonly subscriptions = new Set<{ tail: Promise<unknown> }>();
  /** Stored names by the names clients give (folder-names.ts), worked out once each. */
  private readonly storedNames = new Map<string, string>();
  /** What clients see for each stored name, read at the last listing. */
  private storedToDisplay = new Map<string, string>();
  /** Mailboxes this session watches with claimRecent (its SELECTed one), by id: how many such watches. */
  private readonly claiming = new Map<number, number>();
  /**
   * \Recent this session took by its own command (APPEND, COPY, MOVE into its selected mailbox), in
   * the command's transaction: UID ranges [low, high] per mailbox id. Its change notification then
   * shows them recent without claiming again (RFC 3501 §2.3.2: exactly one session holds each).
   */
  private readonly heldRecent = new Map<number, Array<[number, number]>>();

  constructor(
    private readonly ctx: GatewayContext,
    readonly user: string,
    /** Shared with the account's other open sessions: keys, decrypted messages, cached facts. */
    private readonly shared: SharedAccount,
    private readonly sealer: MessageSealer,
    /** A record server reads sealed content under clear routing fields; people read opened mail. */
    private readonly view: 'opened' | 'routing' = 'opened',
    /** Called once when this session closes (gives back the shared state and the key's hold). */
    private readonly onClose: () => void = () => {},
  ) {
    this.pgpKey = shared.pgpKey;
    this.metaKey = shared.metaKey;
  }

  /**
   * Standard folders exist from the first login; patient folders are filed from the INBOX; folders
   * stored under clear names before names were pseudonymised are renamed. Done once while the
   * account has sessions open: a further LOGIN only reads the folder names.
   */
  async prepare(): Promise<void> {
    this.shared.prepared ??= (async () => {
      for (const [name] of STANDARD) if (!(await this.ctx.store.mail.getMailbox(this.user, name))) await this.ctx.store.mail.ensureMailbox(this.user, name);
      await this.storeUnderCurrentNames();
      const inbox = await this.ctx.store.mail.getMailbox(this.user, 'INBOX');
      if (inbox) await mapLimit(await this.ctx.store.mail.listMessages(inbox.id), OPEN_CONCURRENCY, (m) => this.facts(m));
    })();
    try {
      await this.shared.prepared;
    } catch (err) {
      this.shared.prepared = null; // the next LOGIN tries again
      throw err;
    }
    await this.refreshNames();
  }

  /**
   * Renames the account's folders whose stored name is not what their name maps to now
   * (folder-names.ts): those an older medgate stored as typed, and patient folders with subfolders
   * it stored as one pseudonym. Parents first (a RENAME moves the children, whose own parts are then
   * renamed in turn). The client sees the same names; as with any RENAME, each gets a new
   * UIDVALIDITY, so a client fetches those folders' headers again once. A folder whose name the
   * metadata cache cannot show, or whose target exists already, is left as it is.
   */
  private async storeUnderCurrentNames(): Promise<void> {
    const skipped = new Set<string>();
    for (let round = 0; round < 1000; round++) {
      const boxes = await this.ctx.store.mail.listMailboxes(this.user);
      const names = await this.displayNames(boxes.map((mb) => mb.name));
      const next = boxes
        .map((mb) => ({ stored: mb.name, id: mb.id, display: names.get(mb.name) ?? mb.name }))
        .filter((b) => !skipped.has(b.stored) && isShown(b.stored, this.shared.folderNames) && storedMailboxName(this.metaKey, b.display) !== b.stored)
        .sort((a, b) => a.stored.split('/').length - b.stored.split('/').length)[0];
      if (next === undefined) return;
      const target = await this.storedNameForNew(next.display);
      skipped.add(next.stored); // tried once per login, whatever comes of it
      if (await this.ctx.store.mail.getMailbox(this.user, target)) {
        this.ctx.logger.warn({ user: this.user, mailboxId: next.id }, 'folder left under its stored name: its pseudonymised name is taken');
        continue;
      }
      try {
        await this.ctx.store.mail.renameMailbox(this.user, next.stored, target);
        this.ctx.logger.info({ user: this.user, mailboxId: next.id }, 'folder renamed to its pseudonymised stored name (its old name stays in freed space until `medgate store purge`)');
      } catch (err) {
        // Renamed meanwhile by another session or node (the next round sees it), or the store failed:
        // the folder stays readable under its stored name, and the next login tries again.
        this.ctx.logger.warn({ user: this.user, mailboxId: next.id, code: (err as { code?: string }).code }, 'folder not renamed to its pseudonymised stored name');
      }
    }
  }

  /**
   * The names clients see for stored names: pseudonymised parts shown as the metadata cache holds
   * them (read once per account), others as stored.
   */
  private async displayNames(storedNames: string[]): Promise<Map<string, string>> {
    const known = this.shared.folderNames;
    for (const cacheKey of new Set(storedNames.flatMap(cacheKeysOf))) {
      if (known.has(cacheKey)) continue;
      const enc = await this.ctx.store.mail.getMeta(this.user, cacheKey);
      // An entry of version 1 (an older node's, during a rolling upgrade) counts when it proves itself.
      const unbound = enc && enc.startsWith('v1.') ? this.metaKey.decryptUnbound<string>(enc) : undefined;
      const display = enc ? this.metaKey.decrypt<string>(enc, cacheKey) ?? (typeof unbound === 'string' && standsFor(this.metaKey, cacheKey, unbound) ? unbound : undefined) : undefined;
      if (typeof display === 'string') known.set(cacheKey, display);
    }
    return new Map(storedNames.map((stored) => [stored, displayMailboxName(stored, (cacheKey) => known.get(cacheKey))]));
  }

  /** `boxes`: the account's mailboxes when the caller has just listed them (LIST): not read twice. */
  private async refreshNames(boxes?: Mailbox[]): Promise<void> {
    const list = boxes ?? (await this.ctx.store.mail.listMailboxes(this.user));
    this.storedToDisplay = await this.displayNames(list.map((mb) => mb.name));
  }

  /** The stored name of the mailbox a client names `name` (folder-names.ts), worked out once. */
  private stored(name: string): string {
    let stored = this.storedNames.get(name);
    if (stored === undefined) {
      stored = storedMailboxName(this.metaKey, name);
      if (this.storedNames.size >= 1024) this.storedNames.clear();
      this.storedNames.set(name, stored);
    }
    return stored;
  }

  private display(stored: string): string {
    return this.storedToDisplay.get(stored) ?? stored;
  }

  private async mailbox(name: string): Promise<Mailbox> {
    const stored = this.stored(name);
    // A folder another node has not yet renamed from its typed name is still found under it.
    const mb = (await this.ctx.store.mail.getMailbox(this.user, stored)) ?? (stored !== name ? await this.ctx.store.mail.getMailbox(this.user, name) : undefined);
    if (!mb) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${name} does not exist`);
    return mb;
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    const boxes = await this.ctx.store.mail.listMailboxes(this.user);
    await this.refreshNames(boxes);
    const list: MailboxInfo[] = boxes.map((mb) => ({
      name: this.display(mb.name),
      subscribed: mb.subscribed,
      ...(mb.specialUse && mb.specialUse !== '\\Inbox' ? { specialUse: mb.specialUse as SpecialUse } : {}),
    }));
    const orphans = await this.ctx.store.mail.listOrphanSubscriptions(this.user);
    const orphanNames = await this.displayNames(orphans);
    for (const name of orphans) list.push({ name: orphanNames.get(name) ?? name, subscribed: true, nonExistent: true });
    if (list.some((m) => m.name.startsWith(PATIENTS_ROOT + '/')) && !list.some((m) => m.name === PATIENTS_ROOT)) {
      list.push({ name: PATIENTS_ROOT, subscribed: true, noSelect: true });
    }
    return list.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name.localeCompare(b.name)));
  }

  /**
   * The stored name for a mailbox about to be made (CREATE, RENAME's target): what each
   * pseudonymised part stands for is written to the metadata cache first, encrypted, so that LIST
   * can show the name the user typed (folder-names.ts).
   */
  private async storedNameForNew(name: string): Promise<string> {
    return recordFolderName(this.ctx.store.mail, this.metaKey, this.user, name, this.shared.folderNames);
  }

  /**
   * RFC 3501 §6.3.3: the superior hierarchical names are created too (CREATE a/b/c makes a and a/b
   * real, selectable mailboxes, as Dovecot does), with the mailbox, in ONE transaction: whether it
   * exists and everything created, so two CREATEs racing (any nodes) give one OK and one
   * ALREADYEXISTS, and a failure leaves no parent behind. The `Patients` root is not made: it stays
   * virtual.
   */
  async createMailbox(name: string): Promise<void> {
    this.readIds.clear();
    this.rows.clear();
    const stored = await this.storedNameForNew(name);
    const segments = stored.split('/');
    // The Patients root itself stays virtual (LIST shows it \Noselect).
    const superiors = segments.slice(1).map((_, i) => segments.slice(0, i + 1).join('/')).filter((superior) => superior !== PATIENTS_ROOT);
    await this.ctx.store.write(async (tx) => {
      // A client's CREATE does not subscribe (RFC 3501 §6.3.3); clients that want it say SUBSCRIBE.
      for (const superior of superiors) await tx.mail.createMailbox(this.user, superior, { subscribed: false });
      if (!(await tx.mail.createMailbox(this.user, stored, { subscribed: false }))) throw new ImapError(ImapErrorCode.MAILBOX_EXISTS, `Mailbox ${name} already exists`);
    });
    await this.refreshNames();
  }

  async deleteMailbox(name: string): Promise<void> {
    this.readIds.clear();
    this.rows.clear();
    if (name.toUpperCase() === 'INBOX') throw new ImapError(ImapErrorCode.MAILBOX_NOT_ALLOWED, 'INBOX cannot be deleted');
    const mb = await this.mailbox(name);
    await this.ctx.store.mail.deleteMailbox(this.user, mb.name);
    await this.refreshNames();
  }

  async renameMailbox(from: string, to: string): Promise<void> {
    this.readIds.clear();
    this.rows.clear();
    const src = await this.mailbox(from);
    const target = await this.storedNameForNew(to);
    if (await this.ctx.store.mail.getMailbox(this.user, target)) throw new ImapError(ImapErrorCode.MAILBOX_EXISTS, `Mailbox ${to} already exists`);
    if (src.name === 'INBOX') {
      // RFC 3501: renaming INBOX moves its messages to the new mailbox and leaves INBOX empty.
      // As one MOVE of every message: copy, flag and expunge in one transaction.
      const dest = await this.ctx.store.mail.ensureMailbox(this.user, target);
      const uids = (await this.ctx.store.mail.listMessages(src.id)).map((m) => m.uid);
      const removed = await this.ctx.store.write(async (tx) => {
        for (const id of [src.id, dest.id].sort((a, b) => a - b)) await tx.mail.lockMailbox(id);
        const moved = (await tx.mail.copyMessages(src.id, uids, dest.id)).map(([u]) => u);
        await tx.mail.setFlags(src.id, moved, 'add', ['\\Deleted']);
        return tx.mail.expunge(src.id, moved);
      });
      if (removed.length) this.ctx.mailEvents.emit({ type: 'expunge', mailboxId: src.id, uids: removed });
      return;
    }
    await this.ctx.store.mail.renameMailbox(this.user, src.name, target);
    await this.refreshNames();
  }

  async setSubscribed(name: string, subscribed: boolean): Promise<void> {
    // SUBSCRIBE needs an existing mailbox; UNSUBSCRIBE also works on a name whose mailbox is gone.
    if (subscribed) await this.mailbox(name);
    await this.ctx.store.mail.setSubscribed(this.user, this.stored(name), subscribed);
  }

  /** The cached facts of a stored message, opening it (once) when they are not cached yet. */
  private async facts(m: StoredMessage): Promise<OpenedFacts> {
    const known = this.shared.facts.get(m.blobId);
    if (known) return known;
    const cached = await this.ctx.store.mail.getMeta(this.user, m.blobId);
    const facts = cached ? this.metaKey.decrypt<{ facts?: OpenedFacts }>(cached, m.blobId)?.facts : undefined;
    if (facts && !facts.error && facts.v === 2) {
      this.shared.facts.set(m.blobId, facts);
      return facts;
    }
    return (await this.streamedFacts(m)) ?? (await this.open(m)).facts;
  }

  /**
   * The first opening of a large message, streamed (src/mailbox/opened-stream.ts): its facts
   * without holding the message. Undefined when it is small, or anything is unusual (own copy, not
   * verifying, NUL bytes): then it is opened whole, which also gives the exact notice.
   */
  private streamedFacts(m: StoredMessage): Promise<OpenedFacts | undefined> {
    if (this.view !== 'opened' || m.sealedSize <= STREAM_MESSAGE_BYTES || this.shared.getOpened(m.blobId)) return Promise.resolve(undefined);
    let running = this.shared.streamingFacts.get(m.blobId);
    if (!running) {
      running = this.streamedFactsOnce(m).finally(() => this.shared.streamingFacts.delete(m.blobId));
      this.shared.streamingFacts.set(m.blobId, running);
    }
    return running;
  }

  private async streamedFactsOnce(m: StoredMessage): Promise<OpenedFacts | undefined> {
    const blob = await this.ctx.store.mail.openBlob(m.blobId);
    if (!blob || blob.size <= STREAM_MESSAGE_BYTES) return undefined;
    // A copy sealed under the account key is opened whole (one GCM tag for the whole copy).
    if (isOwnCopyAead(await blob.head(OWN_COPY_HEADER.length))) return undefined;
    const cachedText = await this.ctx.store.mail.getMeta(this.user, m.blobId);
    const cached = cachedText ? this.metaKey.decrypt<{ facts?: OpenedFacts; imap?: MessageMeta }>(cachedText, m.blobId) : undefined;
    const pinned = cached?.facts && !cached.facts.error ? cached.facts : undefined;
    const signer = readerSigner(this.sealer, this.pgpKey, pinned?.fingerprint ?? null);
    let facts: OpenedFacts | undefined;
    try {
      facts = await streamFacts(await openStoredStream(blob, m.blobId, this.sealer, this.pgpKey, signer.resolveSigner), signer.ownCopy, this.view);
    } catch (err) {
      this.ctx.logger.debug({ blobId: m.blobId, code: (err as { code?: string }).code }, 'large message not opened as a stream: opened whole');
      return undefined;
    }
    if (!facts || pinned?.ownCopy) return undefined;
    // Facts of version 1 keep their pinned signer and patient folder (as openStored does).
    if (pinned) facts = { ...facts, fingerprint: pinned.fingerprint ?? facts.fingerprint, patientFolder: pinned.patientFolder ?? facts.patientFolder };
    const keep = cached?.facts ? {} : cached;
    await this.ctx.store.mail.putMeta(this.user, m.blobId, this.metaKey.encrypt({ ...keep, facts }, m.blobId));
    if (facts.patientFolder) {
      // Filing needs the sealed bytes (once, at the first opening); the content is not decrypted again.
      const sealed = await this.ctx.store.mail.getBlob(m.blobId);
      if (sealed) await this.fileUnderPatient(m, sealed, facts);
    }
    if (cached?.facts?.error) this.shared.forgetMeta(m.blobId);
    this.shared.facts.set(m.blobId, facts);
    return facts;
  }

  /**
   * A large message as a stream (issue 31): the FETCH literal starts at once and memory stays flat.
   * Null (FETCH then uses getMessage) for small messages, ones already open in memory, own copies,
   * ones that do not open, and ones a stream cannot serve byte for byte (noStream).
   */
  async streamMessage(mailbox: string, uid: number): Promise<MessageStream | null> {
    if (this.view !== 'opened') return null;
    const m = await this.message(mailbox, uid);
    if (m.sealedSize <= STREAM_MESSAGE_BYTES || this.shared.getOpened(m.blobId)) return null;
    const blob = await this.ctx.store.mail.openBlob(m.blobId);
    if (!blob || blob.size <= STREAM_MESSAGE_BYTES) return null;
    const facts = await this.facts(m);
    if (facts.error || facts.ownCopy || facts.noStream || this.shared.getOpened(m.blobId)) return null;
    const signer = readerSigner(this.sealer, this.pgpKey, facts.fingerprint);
    let opening: StreamOpening;
    try {
      opening = await openStoredStream(blob, m.blobId, this.sealer, this.pgpKey, signer.resolveSigner);
    } catch (err) {
      // Its routing header does not open now (signer revoked meanwhile, damage): the whole opening decides.
      this.ctx.logger.debug({ blobId: m.blobId, code: (err as { code?: string }).code }, 'large message not streamed: opened whole');
      return null;
    }
    return { size: facts.size, chunks: this.guardedStream(m, opening, facts) };
  }

  private async *guardedStream(m: StoredMessage, opening: StreamOpening, facts: OpenedFacts): AsyncGenerator<Buffer, void, undefined> {
    try {
      yield* servedStream(opening, facts.prefix, facts.size);
    } catch (err) {
      await this.streamFailed(m, facts, err);
      throw err;
    }
  }

  /**
   * A streamed message that turned out not to open (or not to be the bytes its facts describe): the
   * FETCH closes the connection mid-literal (docs/secure-message-format.md §11.1); here it is
   * audited and marked so every later FETCH opens it whole, which verifies before sending anything
   * and shows the unreadable-message notice when it does not open.
   */
  private async streamFailed(m: StoredMessage, facts: OpenedFacts, err: unknown): Promise<void> {
    const code = (err as { code?: string }).code ?? 'STREAM_FAILED';
    this.ctx.logger.warn({ blobId: m.blobId, code }, 'streamed FETCH stopped: the message did not verify; connection closed mid-literal');
    const marked: OpenedFacts = { ...facts, noStream: true };
    this.shared.facts.set(m.blobId, marked);
    try {
      const text = await this.ctx.store.mail.getMeta(this.user, m.blobId);
      const current = text ? this.metaKey.decrypt<Record<string, unknown>>(text, m.blobId) : undefined;
      await this.ctx.store.mail.putMeta(this.user, m.blobId, this.metaKey.encrypt({ ...current, facts: marked }, m.blobId));
      await this.ctx.audit.record({
        actor: this.user, action: 'imap.fetch.stream-aborted', outcome: 'failed',
        details: { blobId: m.blobId, mailboxId: m.mailboxId, uid: m.uid, code },
      });
    } catch (e) {
      this.ctx.logger.error({ blobId: m.blobId, code: (e as { code?: string }).code }, 'could not record a stopped streamed FETCH');
    }
  }

  /** One opening per message at a time, whichever of the account's sessions asks. */
  private open(m: StoredMessage): Promise<OpenedMessage> {
    const hit = this.shared.getOpened(m.blobId);
    if (hit) return Promise.resolve(hit);
    let running = this.shared.opening.get(m.blobId);
    if (!running) {
      running = this.openOnce(m).finally(() => this.shared.opening.delete(m.blobId));
      this.shared.opening.set(m.blobId, running);
    }
    return running;
  }

  private async openOnce(m: StoredMessage): Promise<OpenedMessage> {
    const sealed = await this.ctx.store.mail.getBlob(m.blobId);
    if (!sealed) throw new ImapError(ImapErrorCode.MESSAGE_GONE, 'The message no longer exists');
    const cachedText = await this.ctx.store.mail.getMeta(this.user, m.blobId);
    const cached = cachedText ? this.metaKey.decrypt<{ facts?: OpenedFacts; imap?: MessageMeta }>(cachedText, m.blobId) : undefined;
    const opened = await openStored({
      sealer: this.sealer, sealed, blobId: m.blobId, owner: this.user, ownKey: this.pgpKey,
      domain: this.ctx.config.domain, internalDate: new Date(m.internalDate), known: cached?.facts?.error ? undefined : cached?.facts, view: this.view,
      smime: (this.smime ??= smimeReader(this.ctx, this.sealer, this.user, this.pgpKey)), ownCopies: this.metaKey,
    });
    // A failed opening is not pinned: the next opening tries again (signer reinstated, directory synced).
    if (!cached?.facts || cached.facts.error || cached.facts.v !== 2 || opened.cacheRejected) {
      // After a failed opening the cached structure described the notice, and facts of version 1
      // described other bytes (no CRLF normalisation): drop the structure with the old facts.
      const keep = cached?.facts?.error || (cached?.facts && cached.facts.v !== 2) || opened.cacheRejected ? {} : cached;
      await this.ctx.store.mail.putMeta(this.user, m.blobId, this.metaKey.encrypt({ ...keep, facts: opened.facts }, m.blobId));
      await this.fileUnderPatient(m, sealed, opened.facts);
    }
    // A failed opening is not kept: the next FETCH tries again (signer reinstated, directory synced).
    // Metadata computed from the notice of an earlier failure describes other bytes: gone too.
    if (cached?.facts?.error || opened.facts.error || opened.cacheRejected) this.shared.forgetMeta(m.blobId);
    if (!opened.facts.error) {
      this.shared.remember(m.blobId, opened);
      this.shared.facts.set(m.blobId, opened.facts);
    }
    return opened;
  }

  /** Incoming mail also appears in its patient's folder (the folder name is stored pseudonymised). */
  private async fileUnderPatient(m: StoredMessage, sealed: Buffer, facts: OpenedFacts): Promise<void> {
    if (!facts.patientFolder) return;
    const mb = await this.ctx.store.mail.getMailboxById(m.mailboxId);
    if (mb?.name !== 'INBOX') return;
    const stored = await this.storedNameForNew(`${PATIENTS_ROOT}/${facts.patientFolder}`);
    await this.ctx.localDelivery.deliver(sealed, [{ owner: this.user, mailbox: stored, deliveryKey: `patient:${m.blobId}` }], { internalDate: new Date(m.internalDate) });
    await this.refreshNames();
  }

  private async summary(m: StoredMessage): Promise<MessageSummary> {
    const facts = await this.facts(m);
    return { uid: m.uid, flags: m.flags, internalDate: new Date(m.internalDate), size: facts.size, modseq: m.modseq };
  }

  /** STATUS without SIZE: counted from the rows, no message's facts looked up or opened. */
  async mailboxCounts(name: string): Promise<MailboxCounts> {
    const mb = await this.mailbox(name);
    const c = await this.ctx.store.mail.countMessages(mb.id);
    if (!c) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${name} does not exist`);
    return { messages: c.messages, recent: c.recent, uidNext: c.uidNext, uidValidity: mb.uidValidity, unseen: c.unseen, deleted: c.deleted, highestModseq: c.highestModseq };
  }

  async openMailbox(name: string, options: OpenOptions = {}): Promise<MailboxSnapshot> {
    const mb = await this.mailbox(name);
    const messages = await mapLimit(await this.ctx.store.mail.listMessages(mb.id), OPEN_CONCURRENCY, (m) => this.summary(m));
    const fresh = await this.ctx.store.mail.getMailboxById(mb.id);
    // Claim up to the last message listed here: later ones are claimed as their notification arrives.
    const lastUid = messages.length ? messages[messages.length - 1]!.uid : 0;
    const previousRecent = options.claimRecent ? await this.ctx.store.mail.claimRecent(mb.id, lastUid) : (fresh ?? mb).recentUid;
    return {
      name, uidValidity: mb.uidValidity, uidNext: fresh?.uidNext ?? mb.uidNext, messages,
      highestModseq: fresh?.highestModseq ?? mb.highestModseq, firstRecentUid: previousRecent + 1,
      ...(mb.specialUse && mb.specialUse !== '\\Inbox' ? { specialUse: mb.specialUse as SpecialUse } : {}),
    };
  }

  /**
   * The mailbox id for reading one message, looked up once per command burst: a FETCH of 10 000
   * messages looked the mailbox up 20 000 times. Only reads go through it, and a stale id (the mailbox
   * deleted meanwhile) finds no message, which is the right answer then.
   */
  private async mailboxIdForRead(name: string): Promise<number> {
    const now = Date.now();
    const hit = this.readIds.get(name);
    if (hit && hit.until > now) return hit.id;
    const mb = await this.mailbox(name);
    this.readIds.set(name, { id: mb.id, until: now + 1000 });
    return mb.id;
  }

  private async message(mailbox: string, uid: number): Promise<StoredMessage> {
    const mailboxId = await this.mailboxIdForRead(mailbox);
    const key = `${mailboxId}:${uid}`;
    const now = Date.now();
    const hit = this.rows.get(key);
    if (hit && hit.until > now) return hit.m;
    const m = await this.ctx.store.mail.getMessage(mailboxId, uid);
    if (!m) throw new ImapError(ImapErrorCode.MESSAGE_GONE, 'The message no longer exists');
    if (this.rows.size >= 1024) this.rows.clear();
    this.rows.set(key, { m, until: now + 1000 });
    return m;
  }

  async getMessage(mailbox: string, uid: number): Promise<Buffer> {
    return (await this.open(await this.message(mailbox, uid))).bytes;
  }

  async getMessageMeta(mailbox: string, uid: number): Promise<MessageMeta | null> {
    const m = await this.message(mailbox, uid);
    const known = this.shared.getMeta(m.blobId);
    if (known) return known;
    const text = await this.ctx.store.mail.getMeta(this.user, m.blobId);
    const meta = (text ? this.metaKey.decrypt<{ imap?: MessageMeta }>(text, m.blobId)?.imap : undefined) ?? null;
    // Shared only for messages known to open; a notice's metadata stays this session's.
    if (meta && this.shared.facts.has(m.blobId)) this.shared.rememberMeta(m.blobId, meta);
    return meta;
  }

  async storeMessageMeta(mailbox: string, uid: number, meta: MessageMeta): Promise<void> {
    const m = await this.message(mailbox, uid);
    if (this.shared.facts.has(m.blobId)) this.shared.rememberMeta(m.blobId, meta);
    const text = await this.ctx.store.mail.getMeta(this.user, m.blobId);
    const current = text ? this.metaKey.decrypt<Record<string, unknown>>(text, m.blobId) : undefined;
    await this.ctx.store.mail.putMeta(this.user, m.blobId, this.metaKey.encrypt({ ...current, imap: meta }, m.blobId));
  }

  /**
   * Mail stored by the client (Sent copies, drafts) is sealed to the user's own key before it is
   * written. A Sent copy the gateway already filed from the same submission is not stored twice
   * (src/mailbox/sent-copy.ts): the APPEND is answered with the existing message.
   */
  async append(mailbox: string, raw: Buffer, flags: string[], internalDate: Date): Promise<AppendResult> {
    const mb = await this.mailbox(mailbox);
    const sent = mb.specialUse === '\\Sent' && this.view === 'opened';
    // The candidate is found (decrypting recent Sent messages if need be) while the client's copy is
    // sealed: neither may happen inside the store transaction below.
    const own = this.view === 'opened' ? ownCopyFacts(raw) : undefined;
    // Its IMAP metadata (ENVELOPE, BODYSTRUCTURE) is computed from the client's bytes by the worker
    // that seals them (off this thread, which serves every session): no session of the account
    // parses the copy again, nor encrypts and writes its cache entry a second time.
    const [appended, candidate] = await Promise.all([
      // A person's own copy is sealed here under his account key (docs/secure-message-format.md §5.2:
      // AES-GCM, no OpenPGP operation before the answer); a record server's session shows routing
      // fields over sealed content, so its copies stay OpenPGP with a routing header.
      own ? this.sealOwnCopy(raw, own.bytes) : this.sealer.sealOwnCopy(raw, this.pgpKey, this.user, internalDate).then((sealed): AppendedCopy => ({ sealed })),
      sent ? this.gatewaySentCopy(mb, raw) : Promise.resolve(undefined),
    ]);
    const sealed = appended.sealed;
    if (own && appended.imap) own.imap = appended.imap;
    // Only here is it known for sure that the user stored the message himself (the signer lookup
    // cannot tell: his directory key is his own key): the facts saying so are recorded (encrypted)
    // in the commit's own transaction (Placement.meta), with the metadata, so the OK waits for one
    // durable commit and no crash leaves the copy without them.
    // Into this session's selected mailbox: \Recent is this session's, taken in the commit's
    // transaction, before any other session (of any node) can hear of the message and claim it.
    const placement = {
      owner: this.user, mailbox: mb.name, flags, deliveryKey: `append:${randomUUID()}`,
      ...(own ? { meta: (blobId: string) => this.metaKey.encrypt({ facts: own.facts, ...(own.imap ? { imap: own.imap } : {}) }, blobId) } : {}),
      ...(this.claiming.has(mb.id) ? { claimRecent: true } : {}),
    };
    // Any other mailbox (drafts, imaptest's APPENDs) has no decision to make: the delivery path's
    // group commit (SQLite) and one-statement commit (PostgreSQL), announced once this account's
    // sessions share the facts.
    if (!sent) return this.appended(await this.ctx.localDelivery.deliver(sealed, [placement], { internalDate, announce: false }), own, mb);
    // One decision, one transaction: whether the gateway's copy is still there, and the insert of the
    // client's copy when it is not. Two APPENDs racing (two connections of Thunderbird, two nodes)
    // cannot both insert beside it, nor can one insert while an expunge removes it.
    const outcome = await this.ctx.store.write(async (tx): Promise<{ kept: number; changed: StoredMessage[] } | { committed: CommittedDelivery }> => {
      if (!(await tx.mail.lockMailbox(mb.id))) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${mailbox} does not exist`);
      if (candidate) {
        const [still] = await tx.mail.getMessages(mb.id, [candidate.uid]);
        if (still && still.blobId === candidate.blobId && !still.flags.includes('\\Deleted')) {
          // The client's flags (say $MDNSent) are added to the copy kept; none is taken away.
          const extra = flags.filter((f) => !still.flags.includes(f));
          return { kept: still.uid, changed: extra.length ? await tx.mail.setFlags(mb.id, [still.uid], 'add', extra) : [] };
        }
      }
      return { committed: await tx.mail.commit(sealed, [placement], undefined, internalDate) };
    });
    if ('kept' in outcome) {
      for (const c of outcome.changed) this.ctx.mailEvents.emit({ type: 'flags', mailboxId: mb.id, uid: c.uid, flags: c.flags, modseq: c.modseq });
      this.ctx.logger.info({ mailboxId: mb.id, uid: outcome.kept }, 'APPEND to Sent answered with the copy filed at submission (same bytes)');
      return { uid: outcome.kept, uidValidity: mb.uidValidity };
    }
    return this.appended(outcome.committed, own, mb);
  }

  /** A person's APPEND: sealed under the account key, its ENVELOPE/BODYSTRUCTURE computed from the same bytes. */
  private async sealOwnCopy(raw: Buffer, crlf: Buffer): Promise<AppendedCopy> {
    appendsInProgress++;
    try {
      // `crlf`: the bytes as IMAP serves them, converted once (ownCopyFacts), parsed as they are.
      const imap = this.sealer.analyseAppended(crlf, appendsInProgress - 1);
      const sealed = await this.metaKey.sealOwnCopy(raw, this.user);
      const meta = await imap;
      return meta ? { sealed, imap: meta } : { sealed };
    } finally {
      appendsInProgress--;
    }
  }

  /** After the commit of a client's copy (its facts committed with it): shared, then announced. */
  private appended(res: CommittedDelivery, own: OwnCopy | undefined, mb: Mailbox): AppendResult {
    const placed = res.placed[0]!;
    if (placed.recentAfter !== undefined) this.holdRecent(mb.id, placed.recentAfter + 1, placed.uid);
    crashPoint('append:committed');
    // The client just gave us these bytes: its sessions serve them without decrypting what was just
    // sealed. Only in memory, as after a decryption; a later session opens the sealed copy (same bytes).
    if (own) {
      this.shared.remember(res.blobId, { bytes: own.bytes, facts: own.facts, routing: null });
      this.shared.facts.set(res.blobId, own.facts);
      if (own.imap) this.shared.rememberMeta(res.blobId, own.imap);
    }
    // Committed (by the delivery path, or in APPEND's transaction); announced (EXISTS on every node) by the one delivery path.
    this.ctx.localDelivery.announce(res);
    return { uid: placed.uid, uidValidity: mb.uidValidity };
  }

  /**
   * The gateway's Sent copy of the message the client appends: a message of this Sent mailbox filed
   * at submission (not one the user appended) in the last SENT_MATCH_WINDOW_MS, whose original bytes
   * are the client's (sent-copy.ts). Recent Sent mail is usually open in memory already (the client
   * fetched it on EXISTS); otherwise it is decrypted once, as a FETCH would.
   */
  private async gatewaySentCopy(mb: Mailbox, raw: Buffer): Promise<StoredMessage | undefined> {
    const wanted = comparableSentBytes(raw);
    const cutoff = Date.now() - SENT_MATCH_WINDOW_MS;
    const recent = (await this.ctx.store.mail.listMessages(mb.id)).filter((m) => Date.parse(m.internalDate) >= cutoff && !m.flags.includes('\\Deleted'));
    let sameIdDiffers = false;
    for (const m of recent.reverse()) {
      const known = this.shared.facts.get(m.blobId);
      // Cheap refusals first: the user's own copies, unreadable ones, originals shorter than the client's bytes.
      if (known && (known.ownCopy || known.error || known.size - Buffer.byteLength(known.prefix, 'utf8') < wanted.length)) continue;
      const opened = await this.open(m);
      if (opened.facts.ownCopy || opened.facts.error) continue;
      const original = comparableSentBytes(withoutTransportOnlyNotice(opened.bytes.subarray(Buffer.byteLength(opened.facts.prefix, 'utf8'))));
      if (original.equals(wanted)) return m;
      if (!sameIdDiffers) {
        const id = messageIdOf(wanted);
        sameIdDiffers = id !== undefined && id === messageIdOf(original);
      }
    }
    if (sameIdDiffers) this.ctx.logger.info({ mailboxId: mb.id }, 'APPEND to Sent kept beside the copy filed at submission: same Message-ID, other bytes');
    return undefined;
  }

  async setFlags(mailbox: string, uids: number[], op: FlagOperation, flags: string[], options?: SetFlagsOptions): Promise<FlagUpdate[]> {
    const mb = await this.mailbox(mailbox);
    const storeOp = op === 'replace' ? 'set' : op;
    const wanted = flags.filter((f) => f !== '\\Recent');
    let changed: StoredMessage[];
    let current: Map<number, StoredMessage>;
    const limit = options?.unchangedSince;
    if (limit === undefined) {
      // One store call is one transaction already.
      changed = await this.ctx.store.mail.setFlags(mb.id, uids, storeOp, wanted);
      const byUid = new Map(changed.map((c) => [c.uid, c]));
      current = new Map();
      for (const uid of uids) {
        const m = byUid.get(uid) ?? (await this.ctx.store.mail.getMessage(mb.id, uid));
        if (m) current.set(uid, m);
      }
    } else {
      // RFC 7162 §3.1.3: the UNCHANGEDSINCE test and the change it allows are one transaction, the
      // mailbox locked from the test on: of two sessions (of any nodes) storing from the same
      // MODSEQ, exactly one changes the message and the other is told MODIFIED.
      ({ changed, current } = await this.ctx.store.write(async (tx) => {
        if (!(await tx.mail.lockMailbox(mb.id))) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${mailbox} does not exist`);
        const before = await tx.mail.getMessages(mb.id, uids);
        const allowed = before.filter((m) => m.modseq <= limit);
        const done = await tx.mail.setFlags(mb.id, allowed.map((m) => m.uid), storeOp, wanted);
        const now = new Map(allowed.map((m) => [m.uid, m]));
        for (const c of done) now.set(c.uid, c);
        return { changed: done, current: now };
      }, { durable: false }));
    }
    for (const c of changed) this.ctx.mailEvents.emit({ type: 'flags', mailboxId: mb.id, uid: c.uid, flags: c.flags, modseq: c.modseq });
    // Messages left out (gone, or modified since UNCHANGEDSINCE) are what the STORE handler reports.
    const result: FlagUpdate[] = [];
    for (const uid of uids) {
      const m = current.get(uid);
      if (m) result.push({ uid, flags: m.flags, modseq: m.modseq });
    }
    return result;
  }

  async copy(from: string, uids: number[], to: string): Promise<CopyResult> {
    const src = await this.mailbox(from);
    const dest = await this.mailbox(to);
    let mapping: Array<[number, number]>;
    if (!this.claiming.has(dest.id)) mapping = await this.ctx.store.mail.copyMessages(src.id, uids, dest.id);
    else {
      // Into this session's selected mailbox: the copies and their \Recent in one transaction.
      let recentAfter: number | undefined;
      mapping = await this.ctx.store.write(async (tx) => {
        if (!(await tx.mail.lockMailbox(dest.id))) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${to} does not exist`);
        const copied = await tx.mail.copyMessages(src.id, uids, dest.id);
        recentAfter = copied.length ? await tx.mail.claimRecent(dest.id, Math.max(...copied.map(([, u]) => u))) : undefined;
        return copied;
      });
      if (recentAfter !== undefined) this.holdRecent(dest.id, recentAfter + 1, Math.max(...mapping.map(([, u]) => u)));
    }
    for (const [, uid] of mapping) this.ctx.mailEvents.emit({ type: 'exists', mailboxId: dest.id, uid });
    return { uidValidity: dest.uidValidity, mapping };
  }

  /** Records the \Recent this session took by its own command (see heldRecent). */
  private holdRecent(mailboxId: number, low: number, high: number): void {
    if (low > high) return;
    const ranges = this.heldRecent.get(mailboxId) ?? [];
    const last = ranges[ranges.length - 1];
    if (last && last[1] + 1 >= low) last[1] = Math.max(last[1], high); // successive APPENDs: one range
    else ranges.push([low, high]);
    this.heldRecent.set(mailboxId, ranges);
  }

  private holdsRecent(mailboxId: number, uid: number): boolean {
    return (this.heldRecent.get(mailboxId) ?? []).some(([low, high]) => uid >= low && uid <= high);
  }

  /**
   * RFC 6851: copy, flag \Deleted and expunge in ONE store transaction, both mailboxes locked (in id
   * order, so two MOVEs in opposite directions cannot deadlock): no session of any node sees the
   * message in both mailboxes or flagged \Deleted, and a crash at any point (crash point
   * `move:copied`) leaves it in exactly one mailbox.
   */
  async move(from: string, uids: number[], to: string): Promise<CopyResult> {
    const src = await this.mailbox(from);
    const dest = await this.mailbox(to);
    const claim = this.claiming.has(dest.id);
    const { mapping, removed, recentAfter } = await this.ctx.store.write(async (tx) => {
      for (const id of [...new Set([src.id, dest.id])].sort((a, b) => a - b)) {
        if (!(await tx.mail.lockMailbox(id))) throw new ImapError(ImapErrorCode.NO_SUCH_MAILBOX, `Mailbox ${id === src.id ? from : to} does not exist`);
      }
      const mapping = await tx.mail.copyMessages(src.id, uids, dest.id);
      crashPoint('move:copied');
      const moved = mapping.map(([u]) => u);
      await tx.mail.setFlags(src.id, moved, 'add', ['\\Deleted']);
      // Into this session's selected mailbox: \Recent taken with the copies.
      const recentAfter = claim && mapping.length ? await tx.mail.claimRecent(dest.id, Math.max(...mapping.map(([, u]) => u))) : undefined;
      return { mapping, removed: await tx.mail.expunge(src.id, moved), recentAfter };
    });
    if (recentAfter !== undefined) this.holdRecent(dest.id, recentAfter + 1, Math.max(...mapping.map(([, u]) => u)));
    for (const [, uid] of mapping) this.ctx.mailEvents.emit({ type: 'exists', mailboxId: dest.id, uid });
    if (removed.length) this.ctx.mailEvents.emit({ type: 'expunge', mailboxId: src.id, uids: removed });
    return { uidValidity: dest.uidValidity, mapping };
  }

  async expunge(mailbox: string, uids?: number[]): Promise<number[]> {
    const mb = await this.mailbox(mailbox);
    const removed = await this.ctx.store.mail.expunge(mb.id, uids);
    if (removed.length) this.ctx.mailEvents.emit({ type: 'expunge', mailboxId: mb.id, uids: removed });
    return removed;
  }

  /**
   * Notifications of one subscription are delivered in the order they were emitted (each may need
   * an asynchronous look-up first): out of order, a late EXISTS would renumber the client's view.
   */
  onChange(mailbox: string, listener: ChangeListener, options: OpenOptions = {}): () => void {
    let stop = (): void => {};
    let stopped = false;
    const logFailure = (err: unknown): void => this.ctx.logger.warn({ code: (err as { code?: string }).code, user: this.user }, 'imap change notification failed');
    const deliver = async (mailboxId: number, change: StoredMailboxChange): Promise<void> => {
      if (stopped) return;
      if (change.type === 'exists') {
        const m = await this.ctx.store.mail.getMessage(mailboxId, change.uid);
        if (!m) return;
        const summary = await this.summary(m);
        // Taken by this session's own command already, or claimed now: whoever claims first holds it.
        const recent = this.holdsRecent(mailboxId, m.uid) || (options.claimRecent ? (await this.ctx.store.mail.claimRecent(mailboxId, m.uid)) < m.uid : false);
        if (!stopped) listener({ type: 'exists', message: { ...summary, recent } });
      } else if (change.type === 'expunge') {
        listener({ type: 'expunge', uids: change.uids });
      } else {
        listener({ type: 'flags', uid: change.uid, flags: change.flags, modseq: change.modseq });
      }
    };
    const subscription = { tail: Promise.resolve() as Promise<unknown> };
    subscription.tail = this.mailbox(mailbox).then((mb) => {
      if (stopped) return;
      const unsubscribe = this.ctx.mailEvents.subscribe(mb.id, (change) => {
        subscription.tail = subscription.tail.then(() => deliver(mb.id, change)).catch(logFailure);
      });
      if (!options.claimRecent) { stop = unsubscribe; return; }
      this.claiming.set(mb.id, (this.claiming.get(mb.id) ?? 0) + 1);
      let done = false;
      stop = () => {
        if (done) return;
        done = true;
        unsubscribe();
        const left = (this.claiming.get(mb.id) ?? 1) - 1;
        if (left > 0) this.claiming.set(mb.id, left);
        else { this.claiming.delete(mb.id); this.heldRecent.delete(mb.id); }
      };
    }, () => {});
    this.subscriptions.add(subscription);
    const unsubscribe = (): void => { stopped = true; stop(); this.unsubscribers.delete(unsubscribe); this.subscriptions.delete(subscription); };
    this.unsubscribers.add(unsubscribe);
    return unsubscribe;
  }

  async settle(): Promise<void> {
    // A delivery may queue another behind it: wait until every tail stays put (bounded, so a
    // mailbox that never stops changing cannot hold a command back).
    for (let round = 0; round < 3; round++) {
      const tails = [...this.subscriptions].map((s) => s.tail);
      await Promise.all(tails);
      if ([...this.subscriptions].every((s, i) => s.tail === tails[i])) return;
    }
  }

  async close(): Promise<void> {
    for (const u of [...this.unsubscribers]) u();
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}
