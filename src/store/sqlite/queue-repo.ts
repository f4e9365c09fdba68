import type Database from 'better-sqlite3';
import type { QueueDepth, QueueItem, QueueRecipient, QueueRepo } from '../types.js';
import type { SqliteMailRepo } from './mail-repo.js';
import type { GroupCommit } from './group-commit.js';

interface ItemRow {
  id: string; blob_id: string; envelope_from: string; message_id: string; created_at: string;
  expires_at: string; ret: string | null; envid: string | null;
}
interface RecipientRow {
  queue_id: string; recipient: string; notify: string | null; orcpt: string | null; status: string;
  attempts: number; next_attempt_at: string; last_error: string | null; delay_notified: number; updated_at: string;
}

const recipientFrom = (r: RecipientRow): QueueRecipient => ({
  recipient: r.recipient, notify: r.notify ? r.notify.split(',') : null, orcpt: r.orcpt,
  status: r.status as QueueRecipient['status'], attempts: r.attempts, nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error, delayNotified: r.delay_notified !== 0, updatedAt: r.updated_at,
});

const COLUMNS: Record<keyof Omit<QueueRecipient, 'recipient'>, string> = {
  notify: 'notify', orcpt: 'orcpt', status: 'status', attempts: 'attempts', nextAttemptAt: 'next_attempt_at',
  lastError: 'last_error', delayNotified: 'delay_notified', updatedAt: 'updated_at',
};

export class SqliteQueueRepo implements QueueRepo {
  constructor(private readonly db: Database.Database, private readonly mail: SqliteMailRepo, private readonly group: GroupCommit) {}

  private item(row: ItemRow): QueueItem {
    const recipients = (this.db.prepare('SELECT * FROM queue_recipients WHERE queue_id = ? ORDER BY recipient').all(row.id) as RecipientRow[]).map(recipientFrom);
    return {
      id: row.id, blobId: row.blob_id, envelopeFrom: row.envelope_from, messageId: row.message_id, createdAt: row.created_at,
      expiresAt: row.expires_at, ret: row.ret as QueueItem['ret'], envid: row.envid, recipients,
    };
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
    const keys = Object.keys(changes) as (keyof typeof changes)[];
    if (!keys.length) return;
    const values = keys.map((k) => {
      const v = changes[k];
      if (k === 'notify') return v ? (v as string[]).join(',') : null;
      if (k === 'delayNotified') return v ? 1 : 0;
      return v;
    });
    const sql = `UPDATE queue_recipients SET ${keys.map((k) => `${COLUMNS[k]} = ?`).join(', ')} WHERE queue_id = ? AND recipient = ?`;
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
