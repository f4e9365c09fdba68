import type Database from 'better-sqlite3';
import type { QueueDepth, QueueItem, QueueRecipient, QueueRepo } from '../types.js';
import { queueItemFrom, recipientChanges, type QueueItemRow as ItemRow, type RecipientRow } from '../rows/queue-rows.js';
import type { SqliteMailRepo } from './mail-repo.js';
import type { GroupCommit } from './group-commit.js';
import { TEXT_PARAM } from './stable-params.js';

export class SqliteQueueRepo implements QueueRepo {
  constructor(private readonly db: Database.Database, private readonly mail: SqliteMailRepo, private readonly group: GroupCommit) {}

  private item(row: ItemRow): QueueItem {
    return queueItemFrom(row, this.db.prepare(`SELECT * FROM queue_recipients WHERE queue_id = ${TEXT_PARAM} ORDER BY recipient`).all(row.id) as RecipientRow[]);
  }

  async due(now: Date, limit: number): Promise<QueueItem[]> {
    const rows = this.db.prepare(`SELECT * FROM queue_items WHERE id IN (
        SELECT queue_id FROM queue_recipients WHERE status = 'pending' AND next_attempt_at <= ?)
      ORDER BY created_at LIMIT ?`).all(now.toISOString(), limit) as ItemRow[];
    return rows.map((r) => this.item(r));
  }

  async claim(now: Date, limit: number, owner: string, leaseMs: number): Promise<QueueItem[]> {
    const at = now.toISOString();
    const until = new Date(now.getTime() + leaseMs).toISOString();
    const rows = this.db.transaction(() => {
      const due = this.db.prepare(`SELECT * FROM queue_items WHERE id IN (
          SELECT queue_id FROM queue_recipients WHERE status = 'pending' AND next_attempt_at <= ?)
        AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)
        ORDER BY created_at LIMIT ?`).all(at, at, owner, limit) as ItemRow[];
      const lease = this.db.prepare('UPDATE queue_items SET lease_owner = ?, lease_until = ? WHERE id = ?');
      for (const r of due) lease.run(owner, until, r.id);
      return due;
    }).immediate();
    return rows.map((r) => this.item(r));
  }

  async renew(ids: string[], owner: string, leaseMs: number, now = new Date()): Promise<void> {
    if (!ids.length) return;
    const until = new Date(now.getTime() + leaseMs).toISOString();
    const renew = this.db.prepare('UPDATE queue_items SET lease_until = ? WHERE id = ? AND lease_owner = ?');
    await this.group.run(() => { for (const id of ids) renew.run(until, id, owner); }, { durable: false });
  }

  async release(id: string, owner: string): Promise<void> {
    await this.group.run(() => this.db.prepare('UPDATE queue_items SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?').run(id, owner), { durable: false });
  }

  async depth(): Promise<QueueDepth> {
    const depth: QueueDepth = { pending: 0, delivered: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM queue_recipients GROUP BY status').all() as { status: keyof QueueDepth; n: number }[]) depth[r.status] = r.n;
    return depth;
  }

  async get(id: string): Promise<QueueItem | undefined> {
    const r = this.db.prepare('SELECT * FROM queue_items WHERE id = ?').get(id) as ItemRow | undefined;
    return r ? this.item(r) : undefined;
  }

  async list(): Promise<QueueItem[]> {
    return (this.db.prepare('SELECT * FROM queue_items ORDER BY created_at').all() as ItemRow[]).map((r) => this.item(r));
  }

  async updateRecipient(id: string, recipient: string, changes: Partial<Omit<QueueRecipient, 'recipient'>>): Promise<void> {
    const { columns, values } = recipientChanges(changes, (v) => (v ? 1 : 0));
    if (!columns.length) return;
    const sql = `UPDATE queue_recipients SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE queue_id = ? AND recipient = ?`;
    await this.group.run(() => this.db.prepare(sql).run(...values, id, recipient.toLowerCase()));
  }

  async retryNow(id: string, includeFailed = false): Promise<number> {
    const now = new Date().toISOString();
    const res = this.db.prepare(`UPDATE queue_recipients SET status = 'pending', next_attempt_at = ?, updated_at = ?
      WHERE queue_id = ? AND (status = 'pending' ${includeFailed ? "OR status = 'failed'" : ''})`).run(now, now, id);
    return res.changes;
  }

  async remove(id: string): Promise<boolean> {
    const res = this.db.transaction(() => {
      const row = this.db.prepare('SELECT blob_id FROM queue_items WHERE id = ?').get(id) as { blob_id: string } | undefined;
      if (!row) return { removed: false, dropped: [] as string[] };
      this.db.prepare('DELETE FROM queue_recipients WHERE queue_id = ?').run(id);
      this.db.prepare('DELETE FROM queue_items WHERE id = ?').run(id);
      return { removed: true, dropped: this.mail.collectBlobs([row.blob_id]) };
    }).immediate();
    this.mail.dropUnreferencedFiles(res.dropped);
    return res.removed;
  }
}
