import fs from 'node:fs';
import { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import { MedgateError } from '../../errors.js';
import type { BlobFiles } from '../files/blob-files.js';
import type { GroupCommit } from './group-commit.js';
import { INT_PARAM, TEXT_PARAM } from './stable-params.js';
import {
  isSealedFile, placementMeta, type BlobHandle, type CommittedDelivery, type Mailbox, type MailRepo, type MailTx, type NewQueueItem, type Placement,
  type MessageCounts, type SealedBytes, type SpecialUse, type StoredMessage,
} from '../types.js';
import { blobIdOf, blobKeyOf, canonicalMailboxName, defaultSpecialUse, mailboxFrom, messageFrom, uniqueFlags, type MailboxRow, type MessageRow } from '../rows/mail-rows.js';

/** UIDVALIDITY: seconds since epoch, bumped to stay unique within a process. */
let lastValidity = 0;
function newUidValidity(): number {
  lastValidity = Math.max(lastValidity + 1, Math.floor(Date.now() / 1000));
  return lastValidity;
}

export class SqliteMailRepo implements MailRepo {
  constructor(private readonly db: Database.Database, private readonly files: BlobFiles, private readonly group: GroupCommit) {}

  private mailboxRow(owner: string, name: string): MailboxRow | undefined {
    return this.db.prepare('SELECT * FROM mailboxes WHERE owner = ? AND name = ?').get(owner.toLowerCase(), canonicalMailboxName(name)) as MailboxRow | undefined;
  }

  private ensureMailboxSync(owner: string, name: string, specialUse: SpecialUse = defaultSpecialUse(name), subscribed = true): Mailbox {
    const existing = this.mailboxRow(owner, name);
    if (existing) return mailboxFrom(existing);
    // A name still subscribed from before its DELETE is subscribed again.
    const orphan = this.db.prepare('DELETE FROM orphan_subscriptions WHERE owner = ? AND name = ?').run(owner.toLowerCase(), canonicalMailboxName(name)).changes > 0;
    this.db.prepare(`INSERT INTO mailboxes (owner, name, special_use, uid_validity, uid_next, highest_modseq, subscribed, created_at)
      VALUES (?, ?, ?, ?, 1, 0, ?, ?)`).run(owner.toLowerCase(), canonicalMailboxName(name), specialUse, newUidValidity(), subscribed || orphan ? 1 : 0, new Date().toISOString());
    return mailboxFrom(this.mailboxRow(owner, name)!);
  }

  async ensureMailbox(owner: string, name: string, specialUse: SpecialUse = defaultSpecialUse(name), options: { subscribed?: boolean } = {}): Promise<Mailbox> {
    return this.db.transaction(() => this.ensureMailboxSync(owner, name, specialUse, options.subscribed ?? true)).immediate();
  }

  async listOrphanSubscriptions(owner: string): Promise<string[]> {
    return (this.db.prepare(`SELECT name FROM orphan_subscriptions WHERE owner = ${TEXT_PARAM} ORDER BY name`).all(owner.toLowerCase()) as { name: string }[]).map((r) => r.name);
  }

  async getMailbox(owner: string, name: string): Promise<Mailbox | undefined> {
    const r = this.mailboxRow(owner, name);
    return r ? mailboxFrom(r) : undefined;
  }

  async claimRecent(mailboxId: number, upToUid: number): Promise<number> {
    const read = (): number => (this.db.prepare('SELECT recent_uid FROM mailboxes WHERE id = ?').get(mailboxId) as { recent_uid: number } | undefined)?.recent_uid ?? upToUid;
    // Nothing to claim (the usual case for a busy mailbox): no write, no fsync.
    const current = read();
    if (current >= upToUid) return current;
    // Read and raise inside one write transaction, so two sessions never both get a message.
    return this.group.run(() => this.claimRecentNow(mailboxId, upToUid), { durable: false });
  }

  /** claimRecent in the caller's open transaction. */
  private claimRecentNow(mailboxId: number, upToUid: number): number {
    const previous = (this.db.prepare('SELECT recent_uid FROM mailboxes WHERE id = ?').get(mailboxId) as { recent_uid: number } | undefined)?.recent_uid ?? upToUid;
    if (previous < upToUid) this.db.prepare('UPDATE mailboxes SET recent_uid = ? WHERE id = ?').run(upToUid, mailboxId);
    return previous;
  }

  async getMailboxById(id: number): Promise<Mailbox | undefined> {
    const r = this.db.prepare('SELECT * FROM mailboxes WHERE id = ?').get(id) as MailboxRow | undefined;
    return r ? mailboxFrom(r) : undefined;
  }

  async listMailboxes(owner: string): Promise<Mailbox[]> {
    return (this.db.prepare(`SELECT * FROM mailboxes WHERE owner = ${TEXT_PARAM} ORDER BY name`).all(owner.toLowerCase()) as MailboxRow[]).map(mailboxFrom);
  }

  async renameMailbox(owner: string, from: string, to: string): Promise<void> {
    this.db.transaction(() => {
      const src = this.mailboxRow(owner, from);
      if (!src) throw new MedgateError('MAILBOX_UNKNOWN', `no mailbox named ${from}`);
      if (this.mailboxRow(owner, to)) throw new MedgateError('MAILBOX_EXISTS', `a mailbox named ${to} already exists`);
      // Children move with their parent (RFC 3501 §6.3.5); a renamed mailbox gets a new UIDVALIDITY.
      const children = this.db.prepare('SELECT * FROM mailboxes WHERE owner = ? AND name LIKE ?').all(owner.toLowerCase(), `${src.name}/%`) as MailboxRow[];
      for (const c of [src, ...children]) {
        const newName = to + c.name.slice(src.name.length);
        this.db.prepare('UPDATE mailboxes SET name = ?, uid_validity = ? WHERE id = ?').run(newName, newUidValidity(), c.id);
      }
    }).immediate();
  }

  async deleteMailbox(owner: string, name: string): Promise<void> {
    const dropped = this.db.transaction(() => {
      const mb = this.mailboxRow(owner, name);
      if (!mb) throw new MedgateError('MAILBOX_UNKNOWN', `no mailbox named ${name}`);
      const blobs = (this.db.prepare('SELECT DISTINCT blob_id FROM messages WHERE mailbox_id = ?').all(mb.id) as { blob_id: string }[]).map((r) => r.blob_id);
      this.db.prepare('DELETE FROM messages WHERE mailbox_id = ?').run(mb.id);
      this.db.prepare('DELETE FROM mailboxes WHERE id = ?').run(mb.id);
      if (mb.subscribed) this.db.prepare('INSERT OR IGNORE INTO orphan_subscriptions (owner, name) VALUES (?, ?)').run(mb.owner, mb.name);
      return this.collectBlobs(blobs);
    }).immediate();
    this.dropUnreferencedFiles(dropped);
  }

  async setSubscribed(owner: string, name: string, subscribed: boolean): Promise<void> {
    this.db.prepare('UPDATE mailboxes SET subscribed = ? WHERE owner = ? AND name = ?').run(subscribed ? 1 : 0, owner.toLowerCase(), canonicalMailboxName(name));
    if (!subscribed) this.db.prepare('DELETE FROM orphan_subscriptions WHERE owner = ? AND name = ?').run(owner.toLowerCase(), canonicalMailboxName(name));
  }

  async commit(sealed: SealedBytes, placements: Placement[], queue?: NewQueueItem, internalDate = new Date()): Promise<CommittedDelivery> {
    const external = isSealedFile(sealed);
    const { blobId, size } = blobKeyOf(sealed);
    const now = new Date().toISOString();
    let createdFile = false;
    const work = (): CommittedDelivery => {
      // The file reaches its durable place before the row that names it (see BlobFiles), in the same
      // synchronous turn as the INSERT: no expunge can drop an existing copy in between.
      if (external) createdFile = this.files.adopt(sealed.path, blobId);
      return this.commitNow(blobId, size, external ? undefined : sealed, placements, queue, internalDate, now);
    };
    try {
      // With the other writes of this turn of the event loop: one fsync for all (GroupCommit).
      return await this.group.run(work);
    } catch (err) {
      // Nothing refers to a file this call put in place: remove it rather than leave it to the sweep.
      if (createdFile && !this.blobRow(blobId)) this.files.remove(blobId);
      throw err;
    }
  }

  /**
   * The rows of a commit, in the caller's transaction: the blob (`data` in the row, or undefined
   * when its file is in place already), the placements and the queue item.
   */
  private commitNow(blobId: string, size: number, data: Buffer | undefined, placements: Placement[], queue: NewQueueItem | undefined, internalDate: Date, now: string): CommittedDelivery {
    this.db.prepare('INSERT INTO blobs (id, size, data, created_at, external) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
      .run(blobId, size, data ?? Buffer.alloc(0), now, data ? 0 : 1);
    const placed: CommittedDelivery['placed'] = [];
    for (const p of placements) {
      const mb = this.ensureMailboxSync(p.owner, p.mailbox, defaultSpecialUse(p.mailbox));
      const dup = this.db.prepare('SELECT uid FROM messages WHERE mailbox_id = ? AND delivery_key = ?').get(mb.id, p.deliveryKey) as { uid: number } | undefined;
      if (dup) { placed.push({ owner: mb.owner, mailbox: mb.name, mailboxId: mb.id, uid: dup.uid, duplicate: true }); continue; }
      const uid = mb.uidNext;
      const modseq = mb.highestModseq + 1;
      this.db.prepare(`INSERT INTO messages (mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq, delivery_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(mb.id, uid, blobId, uniqueFlags(p.flags ?? []).join(' '), internalDate.toISOString(), size, modseq, p.deliveryKey);
      this.db.prepare('UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?').run(uid + 1, modseq, mb.id);
      if (p.claimRecent) {
        // \Recent taken by the caller in the same transaction (Placement.claimRecent).
        const recentAfter = this.claimRecentNow(mb.id, uid);
        placed.push({ owner: mb.owner, mailbox: mb.name, mailboxId: mb.id, uid, duplicate: false, recentAfter });
        continue;
      }
      placed.push({ owner: mb.owner, mailbox: mb.name, mailboxId: mb.id, uid, duplicate: false });
    }
    // The owners' metadata entries (Placement.meta) in the same transaction as the message.
    placements.forEach((p, i) => {
      const meta = placementMeta(p, blobId);
      if (meta === undefined) return;
      this.db.prepare('INSERT INTO message_meta (owner, blob_id, data) VALUES (?, ?, ?) ON CONFLICT (owner, blob_id) DO UPDATE SET data = excluded.data')
        .run(placed[i]!.owner, blobId, meta);
    });
    if (queue && queue.recipients.length) {
      const exists = this.db.prepare('SELECT 1 FROM queue_items WHERE id = ?').get(queue.id);
      if (!exists) {
        this.db.prepare('INSERT INTO queue_items (id, blob_id, envelope_from, message_id, created_at, expires_at, ret, envid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(queue.id, blobId, queue.envelopeFrom, queue.messageId, now, queue.expiresAt, queue.ret, queue.envid);
        for (const r of queue.recipients) {
          this.db.prepare(`INSERT INTO queue_recipients (queue_id, recipient, notify, orcpt, status, attempts, next_attempt_at, last_error, delay_notified, updated_at)
            VALUES (?, ?, ?, ?, 'pending', 0, ?, NULL, 0, ?)`).run(queue.id, r.recipient.toLowerCase(), r.notify ? r.notify.join(',') : null, r.orcpt, now, now);
        }
      }
    }
    return { blobId, placed, queued: !!queue && queue.recipients.length > 0 };
  }

  private blobRow(blobId: string): { size: number; external: number } | undefined {
    return this.db.prepare('SELECT size, external FROM blobs WHERE id = ?').get(blobId) as { size: number; external: number } | undefined;
  }

  async openBlob(blobId: string): Promise<BlobHandle | undefined> {
    const row = this.blobRow(blobId);
    if (!row) return undefined;
    if (row.external) {
      return { size: row.size, stream: () => this.files.stream(blobId), head: (max) => this.files.head(blobId, max) };
    }
    const data = await this.getBlob(blobId);
    if (!data) return undefined;
    return { size: data.length, stream: () => Readable.from([data]), head: async (max) => data.subarray(0, max) };
  }

  async removeOrphanBlobFiles(): Promise<number> {
    const known = this.db.prepare('SELECT 1 FROM blobs WHERE id = ? AND external = 1');
    return this.files.removeOrphans((id) => !!known.get(id));
  }

  async getBlob(blobId: string): Promise<Buffer | undefined> {
    const row = this.blobRow(blobId);
    if (row?.external) return this.files.read(blobId);
    const r = this.db.prepare('SELECT data FROM blobs WHERE id = ?').get(blobId) as { data: Buffer } | undefined;
    return r?.data;
  }

  async listMessages(mailboxId: number): Promise<StoredMessage[]> {
    return (this.db.prepare(`SELECT mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq FROM messages WHERE mailbox_id = ${INT_PARAM} ORDER BY uid`).all(mailboxId) as MessageRow[]).map(messageFrom);
  }

  async countMessages(mailboxId: number): Promise<MessageCounts | undefined> {
    // Flags are one space-separated string: a flag is present when ' flag ' is in ' flags '.
    const r = this.db.prepare(`SELECT mb.uid_next, mb.highest_modseq, count(m.uid) AS messages,
        coalesce(sum(instr(' ' || m.flags || ' ', ' \\Seen ') = 0), 0) AS unseen,
        coalesce(sum(instr(' ' || m.flags || ' ', ' \\Deleted ') > 0), 0) AS deleted,
        coalesce(sum(m.uid > mb.recent_uid), 0) AS recent
      FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id WHERE mb.id = ${INT_PARAM} GROUP BY mb.id`).get(mailboxId) as
      { uid_next: number; highest_modseq: number; messages: number; unseen: number; deleted: number; recent: number } | undefined;
    return r && { messages: r.messages, unseen: r.unseen, deleted: r.deleted, recent: r.recent, uidNext: r.uid_next, highestModseq: r.highest_modseq };
  }

  async getMessage(mailboxId: number, uid: number): Promise<StoredMessage | undefined> {
    const r = this.db.prepare('SELECT mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq FROM messages WHERE mailbox_id = ? AND uid = ?').get(mailboxId, uid) as MessageRow | undefined;
    return r ? messageFrom(r) : undefined;
  }

  // Flag changes, copies and expunges share the group commit of the message path: one transaction
  // per event-loop turn instead of one per IMAP command. Copies are durable when the promise
  // settles; flag changes and expunges are not fsynced on their own (GroupCommit.run: durable false).
  async setFlags(mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): Promise<StoredMessage[]> {
    return this.group.run(() => this.setFlagsNow(mailboxId, uids, op, flags), { durable: false });
  }

  async copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<[number, number]>> {
    return this.group.run(() => this.copyNow(fromMailboxId, uids, toMailboxId));
  }

  async expunge(mailboxId: number, uids?: number[]): Promise<number[]> {
    // Nothing to remove (a client's EXPUNGE after each change, most of them empty): no write
    // transaction. The same as had this EXPUNGE run just before a \\Deleted set meanwhile.
    if (this.deletedRows(mailboxId, uids).length === 0) return [];
    const { removedUids, dropped } = await this.group.run(() => this.expungeNow(mailboxId, uids), { durable: false });
    // An expunge a power cut undoes only brings messages back, as with Dovecot's fsync_mode=optimized.
    // A blob file, though, goes only once its rows' removal is on disk: a durable (empty) batch
    // fsyncs the WAL, which holds that removal.
    if (dropped.length > 0) {
      await this.group.run(() => undefined);
      this.dropUnreferencedFiles(dropped);
    }
    return removedUids;
  }

  /**
   * The mail repository inside the caller's open write transaction (SqliteStore.write): each call
   * runs at once on the connection. `afterCommit` collects what may only happen once the
   * transaction is on disk (removing the files of collected blobs), `onRollback` what undoes the
   * transaction's work outside the database (a sealed file adopted into the blob files).
   */
  txView(afterCommit: Array<() => void>, onRollback: Array<() => void> = []): MailTx {
    return {
      lockMailbox: async (id) => {
        const r = this.db.prepare('SELECT * FROM mailboxes WHERE id = ?').get(id) as MailboxRow | undefined;
        return r ? mailboxFrom(r) : undefined;
      },
      getMessages: async (mailboxId, uids) => {
        const get = this.db.prepare('SELECT mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq FROM messages WHERE mailbox_id = ? AND uid = ?');
        return [...new Set(uids)].sort((a, b) => a - b).map((uid) => get.get(mailboxId, uid) as MessageRow | undefined)
          .filter((r): r is MessageRow => !!r).map(messageFrom);
      },
      commit: async (sealed, placements, queue, internalDate = new Date()) => {
        if (!isSealedFile(sealed)) return this.commitNow(blobIdOf(sealed), sealed.length, sealed, placements, queue, internalDate, new Date().toISOString());
        // A large message: its file is put in place (synchronously, in this turn, as in `commit`)
        // before the row that names it. A file already stored (same bytes) is not touched, and the
        // spool copy stays until the commit, so a rollback loses nothing the caller may retry with.
        const { blobId, size } = blobKeyOf(sealed);
        if (fs.existsSync(this.files.pathOf(blobId))) afterCommit.push(() => fs.rmSync(sealed.path, { force: true }));
        else {
          this.files.adopt(sealed.path, blobId);
          onRollback.push(() => { if (!this.blobRow(blobId)) this.files.giveBack(blobId, sealed.path); });
        }
        return this.commitNow(blobId, size, undefined, placements, queue, internalDate, new Date().toISOString());
      },
      setFlags: async (mailboxId, uids, op, flags) => this.setFlagsNow(mailboxId, uids, op, flags),
      copyMessages: async (from, uids, to) => this.copyNow(from, uids, to),
      claimRecent: async (mailboxId, upToUid) => this.claimRecentNow(mailboxId, upToUid),
      createMailbox: async (owner, name, options = {}) =>
        (this.mailboxRow(owner, name) ? undefined : this.ensureMailboxSync(owner, name, defaultSpecialUse(name), options.subscribed ?? true)),
      expunge: async (mailboxId, uids) => {
        const { removedUids, dropped } = this.expungeNow(mailboxId, uids);
        if (dropped.length) afterCommit.push(() => this.dropUnreferencedFiles(dropped));
        return removedUids;
      },
    };
  }

  private setFlagsNow(mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): StoredMessage[] {
    const mb = this.db.prepare('SELECT highest_modseq FROM mailboxes WHERE id = ?').get(mailboxId) as { highest_modseq: number } | undefined;
    if (!mb) throw new MedgateError('MAILBOX_UNKNOWN', 'the mailbox no longer exists');
    let modseq = mb.highest_modseq;
    const changed: StoredMessage[] = [];
    const get = this.db.prepare('SELECT mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq FROM messages WHERE mailbox_id = ? AND uid = ?');
    for (const uid of uids) {
      const row = get.get(mailboxId, uid) as MessageRow | undefined;
      if (!row) continue;
      const current = row.flags ? row.flags.split(' ') : [];
      const next = uniqueFlags(op === 'set' ? flags : op === 'add' ? [...current, ...flags] : current.filter((f) => !flags.includes(f)));
      if (next.join(' ') === uniqueFlags(current).join(' ')) continue;
      modseq++;
      this.db.prepare('UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?').run(next.join(' '), modseq, mailboxId, uid);
      changed.push({ ...messageFrom(row), flags: next, modseq });
    }
    this.db.prepare('UPDATE mailboxes SET highest_modseq = ? WHERE id = ?').run(modseq, mailboxId);
    return changed;
  }

  private copyNow(fromMailboxId: number, uids: number[], toMailboxId: number): Array<[number, number]> {
    const dest = this.db.prepare('SELECT * FROM mailboxes WHERE id = ?').get(toMailboxId) as MailboxRow | undefined;
    if (!dest) throw new MedgateError('MAILBOX_UNKNOWN', 'the destination mailbox does not exist');
    let uidNext = dest.uid_next;
    let modseq = dest.highest_modseq;
    const pairs: Array<[number, number]> = [];
    for (const uid of [...new Set(uids)].sort((a, b) => a - b)) {
      const row = this.db.prepare('SELECT * FROM messages WHERE mailbox_id = ? AND uid = ?').get(fromMailboxId, uid) as MessageRow | undefined;
      if (!row) continue;
      modseq++;
      this.db.prepare(`INSERT INTO messages (mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq, delivery_key)
        VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`).run(toMailboxId, uidNext, row.blob_id, row.flags, row.internal_date, row.sealed_size, modseq);
      pairs.push([uid, uidNext]);
      uidNext++;
    }
    this.db.prepare('UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?').run(uidNext, modseq, toMailboxId);
    return pairs;
  }

  private expungeNow(mailboxId: number, uids?: number[]): { removedUids: number[]; dropped: string[] } {
    const removed = this.deletedRows(mailboxId, uids);
    const del = this.db.prepare('DELETE FROM messages WHERE mailbox_id = ? AND uid = ?');
    for (const r of removed) del.run(mailboxId, r.uid);
    let dropped: string[] = [];
    if (removed.length) {
      this.db.prepare('UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?').run(mailboxId);
      dropped = this.collectBlobs(removed.map((r) => r.blob_id));
    }
    return { removedUids: removed.map((r) => r.uid), dropped };
  }

  /** The \\Deleted messages of a mailbox (among `uids` if given), in UID order. */
  private deletedRows(mailboxId: number, uids?: number[]): Array<{ uid: number; blob_id: string }> {
    // Only the \\Deleted rows come back: an EXPUNGE in a 10 000-message INBOX read every row.
    const rows = this.db.prepare(`SELECT uid, blob_id FROM messages WHERE mailbox_id = ${INT_PARAM} AND instr(' ' || flags || ' ', ' \\Deleted ') > 0 ORDER BY uid`)
      .all(mailboxId) as { uid: number; blob_id: string }[];
    if (!uids) return rows;
    const wanted = new Set(uids);
    return rows.filter((r) => wanted.has(r.uid));
  }

  /**
   * Removes those sealed blobs that no message and no queue item refers to any more. Runs inside
   * the caller's transaction; the files of removed external blobs are deleted by `dropUnreferencedFiles`
   * once that transaction has committed (a rollback must not lose a file).
   */
  collectBlobs(blobIds: string[]): string[] {
    // Filed documents (record servers) point at the sealed item too: it stays while they do.
    const del = this.db.prepare(`DELETE FROM blobs WHERE id = ?
      AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = ?) AND NOT EXISTS (SELECT 1 FROM queue_items WHERE blob_id = ?)
      AND NOT EXISTS (SELECT 1 FROM filing_documents WHERE blob_id = ?)`);
    const external = this.db.prepare('SELECT external FROM blobs WHERE id = ?');
    const dropped: string[] = [];
    for (const id of new Set(blobIds)) {
      const wasExternal = (external.get(id) as { external: number } | undefined)?.external === 1;
      if (del.run(id, id, id, id).changes > 0 && wasExternal) dropped.push(id);
    }
    return dropped;
  }

  /** After commit: deletes the files of blobs whose rows are gone. */
  dropUnreferencedFiles(blobIds: string[]): void {
    for (const id of blobIds) if (!this.blobRow(id)) this.files.remove(id);
  }

  async getMeta(owner: string, blobId: string): Promise<string | undefined> {
    const r = this.db.prepare('SELECT data FROM message_meta WHERE owner = ? AND blob_id = ?').get(owner.toLowerCase(), blobId) as { data: string } | undefined;
    return r?.data;
  }

  async putMeta(owner: string, blobId: string, encrypted: string): Promise<void> {
    // Group commit: a mailbox listed for the first time writes one entry per message.
    await this.group.run(() => this.db.prepare('INSERT INTO message_meta (owner, blob_id, data) VALUES (?, ?, ?) ON CONFLICT (owner, blob_id) DO UPDATE SET data = excluded.data')
      .run(owner.toLowerCase(), blobId, encrypted), { durable: false });
  }

  async listMeta(owner: string, afterKey: string, limit: number): Promise<Array<{ key: string; data: string }>> {
    return this.db.prepare('SELECT blob_id AS key, data FROM message_meta WHERE owner = ? AND blob_id > ? ORDER BY blob_id LIMIT ?')
      .all(owner.toLowerCase(), afterKey, limit) as Array<{ key: string; data: string }>;
  }

  async replaceMeta(owner: string, entries: Array<{ key: string; expected: string; data: string }>): Promise<number> {
    const update = this.db.prepare('UPDATE message_meta SET data = ? WHERE owner = ? AND blob_id = ? AND data = ?');
    const o = owner.toLowerCase();
    return this.group.run(() => entries.reduce((n, e) => n + update.run(e.data, o, e.key, e.expected).changes, 0), { durable: false });
  }
}
