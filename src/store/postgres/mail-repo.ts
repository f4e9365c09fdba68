import fs from 'node:fs';
import { Readable } from 'node:stream';
import { MedgateError, isMedgateError } from '../../errors.js';
import {
  isSealedFile, placementMeta, type BlobHandle, type CommittedDelivery, type Mailbox, type MailRepo, type MailTx, type NewQueueItem, type Placement,
  type MessageCounts, type SealedBytes, type SpecialUse, type StoredMessage,
} from '../types.js';
import { blobIdOf, blobKeyOf, canonicalMailboxName, defaultSpecialUse, mailboxFrom, messageFrom, uniqueFlags, type MailboxRow, type MessageRow } from '../rows/mail-rows.js';
import { BLOB_UPSERT, blobHandle, chunkCount, collectBlobs, insertChunksFromFile, readWhole, splitChunks } from './blob-chunks.js';
import { placementStatement, type PlacementRow } from './placement-sql.js';
import { answerLost, type PgDatabase } from './pg-database.js';
import { RecentBlobs } from './recent-blobs.js';
import { retryConflicts } from './retry.js';
import type { Runner } from './runner.js';

/** A placement as the statement takes it: owner lower-cased, name canonical, flags joined. */
type Wanted = { owner: string; name: string; flags: string; key: string; meta: string | null; recent: boolean };

function wantedOf(placements: Placement[], blobId: string): Wanted[] {
  return placements.map((p) => ({
    owner: p.owner.toLowerCase(), name: canonicalMailboxName(p.mailbox), flags: uniqueFlags(p.flags ?? []).join(' '), key: p.deliveryKey, meta: placementMeta(p, blobId) ?? null, recent: !!p.claimRecent,
  }));
}

const MESSAGE_COLUMNS = 'mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq';

const UID_VALIDITY_CTE = `v AS (INSERT INTO settings (key, value) VALUES ('mailbox.uidvalidity', ($VNOW::bigint)::text)
  ON CONFLICT (key) DO UPDATE SET value = GREATEST(settings.value::bigint + 1, $VNOW::bigint)::text RETURNING value::bigint AS v)`;

/**
 * Creates a missing mailbox; two nodes racing get one row. A name still subscribed from before its
 * DELETE (orphan_subscriptions) is subscribed again, as in SQLite.
 */
const ENSURE_SQL = `WITH ${UID_VALIDITY_CTE.replaceAll('$VNOW', '$6')},
  o AS (DELETE FROM orphan_subscriptions WHERE owner = $1 AND name = $2
    AND NOT EXISTS (SELECT 1 FROM mailboxes WHERE owner = $1 AND name = $2) RETURNING 1)
  INSERT INTO mailboxes (owner, name, special_use, uid_validity, uid_next, highest_modseq, subscribed, created_at)
  SELECT $1, $2, $3::text, v.v, 1, 0, $4::boolean OR EXISTS (SELECT 1 FROM o), $5::text FROM v
  ON CONFLICT (owner, name) DO NOTHING`;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * What one row of the placement statement placed. A delivery key placed by another node between
 * our snapshot and our lock (no new UID, no duplicate seen) is a duplicate all the same: its UID is
 * read back (committed, so readable in the transaction or after the statement).
 */
async function placedFrom(c: Runner, row: PlacementRow, wanted: Wanted): Promise<CommittedDelivery['placed'][number]> {
  const key = wanted.key;
  let uid = row.new_uid ?? row.dup_uid;
  if (uid === null) {
    uid = (await c.query<{ uid: number }>('SELECT uid FROM messages WHERE mailbox_id = $1 AND delivery_key = $2', [row.mailbox_id, key])).rows[0]?.uid ?? null;
    if (uid === null) throw new MedgateError('STORE_CONFLICT', 'a placement could not be made; try again');
  }
  const placed = { owner: row.owner!, mailbox: row.name!, mailboxId: row.mailbox_id!, uid, duplicate: row.new_uid === null };
  return wanted.recent && row.new_uid !== null && row.recent_before !== null ? { ...placed, recentAfter: row.recent_before } : placed;
}

export class PgMailRepo implements MailRepo {
  /** What this node just committed from memory: the relay and a reader ask for it again at once. */
  private readonly recent = new RecentBlobs();

  constructor(private readonly db: PgDatabase) {}

  private async ensureIn(c: Runner, owner: string, name: string, specialUse: SpecialUse, subscribed: boolean): Promise<void> {
    await c.query(ENSURE_SQL, [owner, name, specialUse, subscribed, new Date().toISOString(), nowSeconds()]);
  }

  private async mailboxRow(c: Runner, owner: string, name: string): Promise<MailboxRow | undefined> {
    return (await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE owner = $1 AND name = $2', [owner.toLowerCase(), canonicalMailboxName(name)])).rows[0];
  }

  async ensureMailbox(owner: string, name: string, specialUse: SpecialUse = defaultSpecialUse(name), options: { subscribed?: boolean } = {}): Promise<Mailbox> {
    const existing = await this.mailboxRow(this.db, owner, name);
    if (existing) return mailboxFrom(existing);
    await this.ensureIn(this.db, owner.toLowerCase(), canonicalMailboxName(name), specialUse, options.subscribed ?? true);
    const row = await this.mailboxRow(this.db, owner, name);
    if (!row) throw new MedgateError('MAILBOX_UNKNOWN', 'the mailbox was deleted while it was being created');
    return mailboxFrom(row);
  }

  async listOrphanSubscriptions(owner: string): Promise<string[]> {
    return (await this.db.rows<{ name: string }>('SELECT name FROM orphan_subscriptions WHERE owner = $1 ORDER BY name COLLATE "C"', [owner.toLowerCase()])).map((r) => r.name);
  }

  async getMailbox(owner: string, name: string): Promise<Mailbox | undefined> {
    const r = await this.mailboxRow(this.db, owner, name);
    return r ? mailboxFrom(r) : undefined;
  }

  async getMailboxById(id: number): Promise<Mailbox | undefined> {
    const r = await this.db.one<MailboxRow>('SELECT * FROM mailboxes WHERE id = $1', [id]);
    return r ? mailboxFrom(r) : undefined;
  }

  async listMailboxes(owner: string): Promise<Mailbox[]> {
    return (await this.db.rows<MailboxRow>('SELECT * FROM mailboxes WHERE owner = $1 ORDER BY name COLLATE "C"', [owner.toLowerCase()])).map(mailboxFrom);
  }

  async claimRecent(mailboxId: number, upToUid: number): Promise<number> {
    // Nothing to claim (the usual case for a busy mailbox): no write.
    const current = await this.db.one<{ recent_uid: number }>('SELECT recent_uid FROM mailboxes WHERE id = $1', [mailboxId]);
    if (!current) return upToUid;
    if (current.recent_uid >= upToUid) return current.recent_uid;
    return this.claimRecentIn(this.db, mailboxId, upToUid);
  }

  /** The sub-select locks the row and returns its latest version: the previous value, atomically. */
  private async claimRecentIn(c: Runner, mailboxId: number, upToUid: number): Promise<number> {
    const r = (await c.query<{ previous: number }>(`UPDATE mailboxes m SET recent_uid = GREATEST(old.recent_uid, $2)
      FROM (SELECT id, recent_uid FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE) old WHERE m.id = old.id RETURNING old.recent_uid AS previous`, [mailboxId, upToUid])).rows[0];
    return r?.previous ?? upToUid;
  }

  async renameMailbox(owner: string, from: string, to: string): Promise<void> {
    const o = owner.toLowerCase();
    await this.db.tx(async (c) => {
      const src = (await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE owner = $1 AND name = $2 FOR UPDATE', [o, canonicalMailboxName(from)])).rows[0];
      if (!src) throw new MedgateError('MAILBOX_UNKNOWN', `no mailbox named ${from}`);
      if (await this.mailboxRow(c, o, to)) throw new MedgateError('MAILBOX_EXISTS', `a mailbox named ${to} already exists`);
      // Children move with their parent (RFC 3501 §6.3.5); a renamed mailbox gets a new UIDVALIDITY.
      const like = src.name.replace(/[\\%_]/g, (ch) => '\\' + ch) + '/%';
      const rows = (await c.query<{ id: number; name: string }>('SELECT id, name FROM mailboxes WHERE owner = $1 AND (id = $2 OR name LIKE $3) ORDER BY id FOR UPDATE', [o, src.id, like])).rows;
      const newNames = rows.map((r) => to + r.name.slice(src.name.length));
      await c.query(`WITH ${UID_VALIDITY_CTE.replaceAll('$VNOW', '$3')},
        x AS (SELECT * FROM unnest($1::int[], $2::text[]) WITH ORDINALITY AS x(id, name, ord))
        UPDATE mailboxes m SET name = x.name, uid_validity = v.v + x.ord - 1 FROM x, v WHERE m.id = x.id`, [rows.map((r) => r.id), newNames, nowSeconds()]);
      // The counter must stay above every value used.
      if (rows.length > 1) await c.query(`UPDATE settings SET value = (value::bigint + $1)::text WHERE key = 'mailbox.uidvalidity'`, [rows.length - 1]);
    });
  }

  async deleteMailbox(owner: string, name: string): Promise<void> {
    await this.db.tx(async (c) => {
      const mb = (await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE owner = $1 AND name = $2 FOR UPDATE', [owner.toLowerCase(), canonicalMailboxName(name)])).rows[0];
      if (!mb) throw new MedgateError('MAILBOX_UNKNOWN', `no mailbox named ${name}`);
      const removed = await c.query<{ blob_id: string }>('DELETE FROM messages WHERE mailbox_id = $1 RETURNING blob_id', [mb.id]);
      await c.query('DELETE FROM mailboxes WHERE id = $1', [mb.id]);
      if (mb.subscribed) await c.query('INSERT INTO orphan_subscriptions (owner, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [mb.owner, mb.name]);
      await collectBlobs(c, removed.rows.map((r) => r.blob_id));
    });
  }

  async setSubscribed(owner: string, name: string, subscribed: boolean): Promise<void> {
    const o = owner.toLowerCase();
    const n = canonicalMailboxName(name);
    if (subscribed) await this.db.query('UPDATE mailboxes SET subscribed = true WHERE owner = $1 AND name = $2', [o, n]);
    else {
      await this.db.query(`WITH u AS (UPDATE mailboxes SET subscribed = false WHERE owner = $1 AND name = $2)
        DELETE FROM orphan_subscriptions WHERE owner = $1 AND name = $2`, [o, n]);
    }
  }

  /**
   * One transaction: the blob (its chunks in the same statement when in memory, streamed in from
   * the file otherwise), the queue item and every placement. The placements of distinct mailboxes
   * go in ONE statement that locks the mailbox rows (in a fixed order: no deadlock between nodes),
   * takes each one's next UID and MODSEQ, and skips a delivery key already placed. Round trips for
   * a message in memory: BEGIN, that statement, COMMIT.
   */
  async commit(sealed: SealedBytes, placements: Placement[], queue?: NewQueueItem, internalDate = new Date()): Promise<CommittedDelivery> {
    const external = isSealedFile(sealed);
    const { blobId, size } = blobKeyOf(sealed);
    const now = new Date().toISOString();
    const wanted = wantedOf(placements, blobId);
    // A mailbox named twice (never on the message path) is placed in a later round of its own.
    const rounds = PgMailRepo.rounds(wanted);
    if (!external && rounds.length <= 1) {
      // The usual case, every mailbox already there: one statement, one round trip, no BEGIN/COMMIT.
      // The statement is idempotent (delivery keys, queue id): when its answer is lost it is run
      // again until the server answers, so the reply says what happened (docs/operations.md).
      const done = await this.db.untilAnswered(() => retryConflicts(() => this.commitAtOnce(sealed, wanted, { blobId, size, now, internalDate: internalDate.toISOString(), queue })));
      if (done) { this.recent.put(blobId, sealed); return done; }
    }
    const result = await retryConflicts(() => this.db.tx((c) => this.commitIn(c, sealed, wanted, rounds, { blobId, size, now, internalDate, queue })));
    // Committed: the bytes are in the database; the spool file is no longer needed.
    if (external) fs.rmSync(sealed.path, { force: true });
    if (!external) this.recent.put(blobId, sealed);
    return result;
  }

  /** The transaction path of a commit, on the connection `c` (a transaction already open). */
  private async commitIn(c: Runner, sealed: SealedBytes, wanted: Wanted[], rounds: number[][],
    o: { blobId: string; size: number; now: string; internalDate: Date; queue?: NewQueueItem | undefined }): Promise<CommittedDelivery> {
    const { blobId, size, now, internalDate, queue } = o;
    const external = isSealedFile(sealed);
    const placed: Array<CommittedDelivery['placed'][number] | undefined> = wanted.map(() => undefined);
    if (external) {
      const b = await c.query<{ inserted: boolean }>(BLOB_UPSERT, [blobId, size, chunkCount(size), now]);
      if (b.rows[0]?.inserted) await insertChunksFromFile(c, blobId, sealed.path);
    }
    for (let r = 0; r < Math.max(rounds.length, 1); r++) {
      const idx = rounds[r] ?? [];
      const first = r === 0;
      let rows = await this.place(c, idx, wanted, { blobId, size, now, internalDate: internalDate.toISOString(),
        chunks: first && !external ? splitChunks(sealed) : undefined, queue: first ? queue : undefined });
      if (!idx.length) continue; // the blob and queue item only: its one row places nothing
      // Mailboxes not there yet: create them (sorted, one fixed order), then place again.
      const missing = rows.filter((row) => row.mailbox_id === null).map((row) => idx[row.ord - 1]!);
      if (missing.length) {
        for (const i of [...missing].sort((a, b) => (wanted[a]!.owner + '\u0000' + wanted[a]!.name < wanted[b]!.owner + '\u0000' + wanted[b]!.name ? -1 : 1))) {
          const w = wanted[i]!;
          await this.ensureIn(c, w.owner, w.name, defaultSpecialUse(w.name), true);
        }
        const again = await this.place(c, missing, wanted, { blobId, size, now, internalDate: internalDate.toISOString() });
        rows = rows.filter((row) => row.mailbox_id !== null).concat(again.map((row) => ({ ...row, ord: idx.indexOf(missing[row.ord - 1]!) + 1 })));
      }
      for (const row of rows) {
        const i = idx[row.ord - 1]!;
        if (row.mailbox_id === null) throw new MedgateError('MAILBOX_UNKNOWN', 'a mailbox was deleted while a message was placed in it');
        placed[i] = await placedFrom(c, row, wanted[i]!);
      }
    }
    return { blobId, placed: placed.filter((p) => p !== undefined), queued: !!queue && queue.recipients.length > 0 };
  }

  /** The placement rounds of a commit: a mailbox named twice is placed in a later round of its own. */
  private static rounds(wanted: Array<{ owner: string; name: string }>): number[][] {
    const rounds: number[][] = [];
    const seen = new Map<string, number>();
    wanted.forEach((w, i) => {
      const k = `${w.owner}\u0000${w.name}`;
      const round = seen.get(k) ?? 0;
      seen.set(k, round + 1);
      (rounds[round] ??= []).push(i);
    });
    return rounds;
  }

  /**
   * The whole commit as one all-or-nothing statement outside a transaction block. Undefined when a
   * mailbox is missing: then nothing was written, and the caller takes the transaction path, which
   * creates it.
   */
  private async commitAtOnce(sealed: Buffer, wanted: Wanted[],
    o: { blobId: string; size: number; now: string; internalDate: string; queue?: NewQueueItem | undefined }): Promise<CommittedDelivery | undefined> {
    const st = placementStatement({
      placements: wanted, blobId: o.blobId, size: o.size, now: o.now, internalDate: o.internalDate, chunks: splitChunks(sealed),
      queue: o.queue && o.queue.recipients.length ? o.queue : undefined, allOrNothing: true,
    });
    const rows = (await this.db.queryFlaggingLostAnswer<PlacementRow>(st.sql, st.params)).rows;
    const queued = !!o.queue && o.queue.recipients.length > 0;
    if (!wanted.length) return { blobId: o.blobId, placed: [], queued }; // a queue item only: its row says nothing more
    if (rows.some((row) => row.mailbox_id === null)) return undefined;
    const placed: CommittedDelivery['placed'] = [];
    try {
      for (const row of rows) placed[row.ord - 1] = await placedFrom(this.db, row, wanted[row.ord - 1]!);
    } catch (err) {
      // Committed already: losing the database now must not turn into "nothing was accepted".
      if (isMedgateError(err) && err.code === 'STORE_UNAVAILABLE') throw answerLost(err);
      throw err;
    }
    return { blobId: o.blobId, placed: placed.filter((p) => p !== undefined), queued };
  }

  private async place(c: Runner, idx: number[], wanted: Wanted[],
    o: { blobId: string; size: number; now: string; internalDate: string; chunks?: Buffer[] | undefined; queue?: NewQueueItem | undefined }): Promise<PlacementRow[]> {
    if (!idx.length && !o.chunks && !o.queue) return [];
    const st = placementStatement({
      placements: idx.map((i) => wanted[i]!), blobId: o.blobId, size: o.size, now: o.now, internalDate: o.internalDate,
      chunks: o.chunks, queue: o.queue && o.queue.recipients.length ? o.queue : undefined,
    });
    return (await c.query<PlacementRow>(st.sql, st.params)).rows;
  }

  /** The bytes of a blob this node committed a moment ago, if the database still has it (any node may have collected it since). */
  private async recentBlob(blobId: string): Promise<Buffer | undefined> {
    const data = this.recent.get(blobId);
    if (!data) return undefined;
    return (await this.db.one('SELECT 1 FROM blobs WHERE id = $1', [blobId])) ? data : undefined;
  }

  async getBlob(blobId: string): Promise<Buffer | undefined> {
    if (this.recent.get(blobId)) return this.recentBlob(blobId);
    return readWhole(this.db, blobId);
  }

  async openBlob(blobId: string): Promise<BlobHandle | undefined> {
    if (!this.recent.get(blobId)) return blobHandle(this.db, blobId);
    const data = await this.recentBlob(blobId);
    return data && { size: data.length, stream: () => Readable.from([data]), head: async (max) => data.subarray(0, max) };
  }

  /** Blobs live in the database only: nothing outside it can be left over. */
  async removeOrphanBlobFiles(): Promise<number> {
    return 0;
  }

  async listMessages(mailboxId: number): Promise<StoredMessage[]> {
    return (await this.db.rows<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 ORDER BY uid`, [mailboxId])).map(messageFrom);
  }

  async countMessages(mailboxId: number): Promise<MessageCounts | undefined> {
    const r = await this.db.one<{ uid_next: string; highest_modseq: string; messages: string; unseen: string; deleted: string; recent: string }>(
      `SELECT mb.uid_next, mb.highest_modseq, count(m.uid) AS messages,
        count(m.uid) FILTER (WHERE NOT ('\\Seen' = ANY(string_to_array(m.flags, ' ')))) AS unseen,
        count(m.uid) FILTER (WHERE '\\Deleted' = ANY(string_to_array(m.flags, ' '))) AS deleted,
        count(m.uid) FILTER (WHERE m.uid > mb.recent_uid) AS recent
      FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id WHERE mb.id = $1 GROUP BY mb.id`, [mailboxId]);
    return r && {
      messages: Number(r.messages), unseen: Number(r.unseen), deleted: Number(r.deleted), recent: Number(r.recent),
      uidNext: Number(r.uid_next), highestModseq: Number(r.highest_modseq),
    };
  }

  async getMessage(mailboxId: number, uid: number): Promise<StoredMessage | undefined> {
    const r = await this.db.one<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid = $2`, [mailboxId, uid]);
    return r ? messageFrom(r) : undefined;
  }

  /** The mailbox row lock orders every MODSEQ of the mailbox across nodes. */
  private async lockMailbox(c: Runner, id: number, message = 'the mailbox no longer exists'): Promise<MailboxRow> {
    const mb = (await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE', [id])).rows[0];
    if (!mb) throw new MedgateError('MAILBOX_UNKNOWN', message);
    return mb;
  }

  async setFlags(mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): Promise<StoredMessage[]> {
    return retryConflicts(() => this.db.tx((c) => this.setFlagsIn(c, mailboxId, uids, op, flags)));
  }

  async copyMessages(fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<[number, number]>> {
    return retryConflicts(() => this.db.tx((c) => this.copyIn(c, fromMailboxId, uids, toMailboxId)));
  }

  async expunge(mailboxId: number, uids?: number[]): Promise<number[]> {
    return retryConflicts(() => this.db.tx((c) => this.expungeIn(c, mailboxId, uids)));
  }

  /**
   * The mail repository on one transaction's connection (PgStore.write). `afterCommit` collects what
   * may only happen once the transaction committed (removing a sealed spool file streamed in).
   */
  txView(c: Runner, afterCommit: Array<() => void> = []): MailTx {
    return {
      lockMailbox: async (id) => {
        const mb = (await c.query<MailboxRow>('SELECT * FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE', [id])).rows[0];
        return mb ? mailboxFrom(mb) : undefined;
      },
      commit: (sealed, placements, queue, internalDate = new Date()) => {
        const { blobId, size } = blobKeyOf(sealed);
        const wanted = wantedOf(placements, blobId);
        if (isSealedFile(sealed)) afterCommit.push(() => fs.rmSync(sealed.path, { force: true }));
        return this.commitIn(c, sealed, wanted, PgMailRepo.rounds(wanted), { blobId, size, now: new Date().toISOString(), internalDate, queue });
      },
      getMessages: async (mailboxId, uids) => (await c.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`,
        [mailboxId, [...new Set(uids)]])).rows.map(messageFrom),
      setFlags: (mailboxId, uids, op, flags) => this.setFlagsIn(c, mailboxId, uids, op, flags),
      copyMessages: (from, uids, to) => this.copyIn(c, from, uids, to),
      expunge: (mailboxId, uids) => this.expungeIn(c, mailboxId, uids),
      claimRecent: (mailboxId, upToUid) => this.claimRecentIn(c, mailboxId, upToUid),
      createMailbox: async (owner, name, options = {}) => {
        // ON CONFLICT DO NOTHING waits for a transaction creating the same name, then inserts nothing.
        const made = await c.query(`${ENSURE_SQL} RETURNING id`, [owner.toLowerCase(), canonicalMailboxName(name), defaultSpecialUse(name), options.subscribed ?? true, new Date().toISOString(), nowSeconds()]);
        if (!made.rowCount) return undefined;
        const row = await this.mailboxRow(c, owner, name);
        return row && mailboxFrom(row);
      },
    };
  }

  private async setFlagsIn(c: Runner, mailboxId: number, uids: number[], op: 'set' | 'add' | 'remove', flags: string[]): Promise<StoredMessage[]> {
    const mb = await this.lockMailbox(c, mailboxId);
    const rows = (await c.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid`, [mailboxId, [...new Set(uids)]])).rows;
    const order = new Map(uids.map((u, i) => [u, i] as const));
    rows.sort((a, b) => order.get(a.uid)! - order.get(b.uid)!);
    let modseq = mb.highest_modseq;
    const changed: StoredMessage[] = [];
    for (const row of rows) {
      const current = row.flags ? row.flags.split(' ') : [];
      const next = uniqueFlags(op === 'set' ? flags : op === 'add' ? [...current, ...flags] : current.filter((f) => !flags.includes(f)));
      if (next.join(' ') === uniqueFlags(current).join(' ')) continue;
      modseq++;
      changed.push({ ...messageFrom(row), flags: next, modseq });
    }
    if (changed.length) {
      await c.query(`WITH x AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS x(uid, flags, modseq)),
        u AS (UPDATE messages m SET flags = x.flags, modseq = x.modseq FROM x WHERE m.mailbox_id = $1 AND m.uid = x.uid)
        UPDATE mailboxes SET highest_modseq = $5 WHERE id = $1`,
      [mailboxId, changed.map((m) => m.uid), changed.map((m) => m.flags.join(' ')), changed.map((m) => m.modseq), modseq]);
    }
    return changed;
  }

  private async copyIn(c: Runner, fromMailboxId: number, uids: number[], toMailboxId: number): Promise<Array<[number, number]>> {
    const dest = await this.lockMailbox(c, toMailboxId, 'the destination mailbox does not exist');
    const source = (await c.query<{ uid: number }>('SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[]) ORDER BY uid', [fromMailboxId, [...new Set(uids)]])).rows;
    if (!source.length) return [];
    const pairs: Array<[number, number]> = source.map((s, i) => [s.uid, dest.uid_next + i]);
    await c.query(`WITH x AS (SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::bigint[]) AS x(src, uid, modseq)),
      i AS (INSERT INTO messages (mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq, delivery_key)
        SELECT $2, x.uid, m.blob_id, m.flags, m.internal_date, m.sealed_size, x.modseq, NULL FROM x JOIN messages m ON m.mailbox_id = $1 AND m.uid = x.src)
      UPDATE mailboxes SET uid_next = $6, highest_modseq = $7 WHERE id = $2`,
    [fromMailboxId, toMailboxId, pairs.map((p) => p[0]), pairs.map((p) => p[1]), pairs.map((_, i) => dest.highest_modseq + 1 + i),
      dest.uid_next + pairs.length, dest.highest_modseq + pairs.length]);
    return pairs;
  }

  private async expungeIn(c: Runner, mailboxId: number, uids?: number[]): Promise<number[]> {
    const mb = (await c.query<{ id: number }>('SELECT id FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE', [mailboxId])).rows[0];
    if (!mb) return [];
    const removed = (await c.query<{ uid: number; blob_id: string }>(`WITH d AS (DELETE FROM messages WHERE mailbox_id = $1
        AND '\\Deleted' = ANY(string_to_array(flags, ' ')) AND ($2::bigint[] IS NULL OR uid = ANY($2::bigint[])) RETURNING uid, blob_id),
      u AS (UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM d))
      SELECT uid, blob_id FROM d ORDER BY uid`, [mailboxId, uids ?? null])).rows;
    if (removed.length) await collectBlobs(c, removed.map((r) => r.blob_id));
    return removed.map((r) => r.uid);
  }

  async getMeta(owner: string, blobId: string): Promise<string | undefined> {
    return (await this.db.one<{ data: string }>('SELECT data FROM message_meta WHERE owner = $1 AND blob_id = $2', [owner.toLowerCase(), blobId]))?.data;
  }

  async putMeta(owner: string, blobId: string, encrypted: string): Promise<void> {
    await this.db.query('INSERT INTO message_meta (owner, blob_id, data) VALUES ($1, $2, $3) ON CONFLICT (owner, blob_id) DO UPDATE SET data = excluded.data',
      [owner.toLowerCase(), blobId, encrypted]);
  }

  async listMeta(owner: string, afterKey: string, limit: number): Promise<Array<{ key: string; data: string }>> {
    // The comparison and the order in the primary key's own collation: the pages follow each other.
    return this.db.rows<{ key: string; data: string }>(
      'SELECT blob_id AS key, data FROM message_meta WHERE owner = $1 AND blob_id > $2 ORDER BY blob_id LIMIT $3', [owner.toLowerCase(), afterKey, limit]);
  }

  async replaceMeta(owner: string, entries: Array<{ key: string; expected: string; data: string }>): Promise<number> {
    if (entries.length === 0) return 0;
    // One statement for the page: each entry is rewritten only if it still holds what was read.
    const r = await this.db.query(
      `UPDATE message_meta m SET data = e.data FROM unnest($2::text[], $3::text[], $4::text[]) AS e(key, expected, data)
        WHERE m.owner = $1 AND m.blob_id = e.key AND m.data = e.expected`,
      [owner.toLowerCase(), entries.map((e) => e.key), entries.map((e) => e.expected), entries.map((e) => e.data)]);
    return r.rowCount ?? 0;
  }
}
