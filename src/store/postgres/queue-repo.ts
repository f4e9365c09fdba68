import type { QueueDepth, QueueItem, QueueRecipient, QueueRepo } from '../types.js';
import { queueItemFrom, recipientChanges, type QueueItemRow, type RecipientRow } from '../rows/queue-rows.js';
import { collectBlobs } from './blob-chunks.js';
import type { PgDatabase } from './pg-database.js';

/** An item with its recipients aggregated as JSON into the same row (WITH_RECIPIENTS). */
interface ItemRow extends QueueItemRow { recipients: RecipientRow[] }
const itemFrom = (r: ItemRow): QueueItem => queueItemFrom(r, r.recipients);

/** An item with its recipients in one row (one round trip per read, whatever the count). */
const WITH_RECIPIENTS = (alias: string): string => `${alias}.id, ${alias}.blob_id, ${alias}.envelope_from, ${alias}.message_id, ${alias}.created_at,
  ${alias}.expires_at, ${alias}.ret, ${alias}.envid, ${alias}.lease_owner, ${alias}.lease_until,
  COALESCE((SELECT json_agg(json_build_object('recipient', r.recipient, 'notify', r.notify, 'orcpt', r.orcpt, 'status', r.status,
    'attempts', r.attempts, 'next_attempt_at', r.next_attempt_at, 'last_error', r.last_error, 'delay_notified', r.delay_notified,
    'updated_at', r.updated_at) ORDER BY r.recipient COLLATE "C") FROM queue_recipients r WHERE r.queue_id = ${alias}.id), '[]'::json) AS recipients`;

const DUE = `EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.id AND r.status = 'pending' AND r.next_attempt_at <= $1)`;

export class PgQueueRepo implements QueueRepo {
  constructor(private readonly db: PgDatabase) {}

  async due(now: Date, limit: number): Promise<QueueItem[]> {
    return (await this.db.rows<ItemRow>(`SELECT ${WITH_RECIPIENTS('q')} FROM queue_items q WHERE ${DUE}
      ORDER BY q.created_at, q.id LIMIT $2`, [now.toISOString(), limit])).map(itemFrom);
  }

  /**
   * One statement: due items not leased by another node (or whose lease ran out) are locked with
   * SKIP LOCKED, so nodes claiming at once take different items instead of waiting on each other,
   * and leased to `owner`.
   */
  async claim(now: Date, limit: number, owner: string, leaseMs: number): Promise<QueueItem[]> {
    const until = new Date(now.getTime() + leaseMs).toISOString();
    return (await this.db.rows<ItemRow>(`WITH c AS (
        SELECT q.id FROM queue_items q WHERE ${DUE} AND (q.lease_until IS NULL OR q.lease_until <= $1 OR q.lease_owner = $2)
        ORDER BY q.created_at, q.id LIMIT $3 FOR UPDATE SKIP LOCKED),
      l AS (UPDATE queue_items q SET lease_owner = $2, lease_until = $4 FROM c WHERE q.id = c.id RETURNING q.*)
      SELECT ${WITH_RECIPIENTS('l')} FROM l ORDER BY l.created_at, l.id`, [now.toISOString(), owner, limit, until])).map(itemFrom);
  }

  async renew(ids: string[], owner: string, leaseMs: number, now = new Date()): Promise<void> {
    if (!ids.length) return;
    await this.db.query('UPDATE queue_items SET lease_until = $1 WHERE id = ANY($2::text[]) AND lease_owner = $3',
      [new Date(now.getTime() + leaseMs).toISOString(), ids, owner]);
  }

  async release(id: string, owner: string): Promise<void> {
    await this.db.query('UPDATE queue_items SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2', [id, owner]);
  }

  async depth(): Promise<QueueDepth> {
    const depth: QueueDepth = { pending: 0, delivered: 0, failed: 0 };
    for (const r of await this.db.rows<{ status: keyof QueueDepth; n: number }>('SELECT status, COUNT(*) AS n FROM queue_recipients GROUP BY status')) depth[r.status] = r.n;
    return depth;
  }

  async get(id: string): Promise<QueueItem | undefined> {
    const r = await this.db.one<ItemRow>(`SELECT ${WITH_RECIPIENTS('q')} FROM queue_items q WHERE q.id = $1`, [id]);
    return r ? itemFrom(r) : undefined;
  }

  async list(): Promise<QueueItem[]> {
    return (await this.db.rows<ItemRow>(`SELECT ${WITH_RECIPIENTS('q')} FROM queue_items q ORDER BY q.created_at, q.id`)).map(itemFrom);
  }

  async updateRecipient(id: string, recipient: string, changes: Partial<Omit<QueueRecipient, 'recipient'>>): Promise<void> {
    const { columns, values } = recipientChanges(changes, (v) => v);
    if (!columns.length) return;
    const sql = `UPDATE queue_recipients SET ${columns.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE queue_id = $${columns.length + 1} AND recipient = $${columns.length + 2}`;
    await this.db.query(sql, [...values, id, recipient.toLowerCase()]);
  }

  async retryNow(id: string, includeFailed = false): Promise<number> {
    const now = new Date().toISOString();
    const res = await this.db.query(`UPDATE queue_recipients SET status = 'pending', next_attempt_at = $1, updated_at = $1
      WHERE queue_id = $2 AND (status = 'pending' ${includeFailed ? "OR status = 'failed'" : ''})`, [now, id]);
    return res.rowCount ?? 0;
  }

  async remove(id: string): Promise<boolean> {
    return this.db.tx(async (c) => {
      const row = (await c.query<{ blob_id: string }>('DELETE FROM queue_items WHERE id = $1 RETURNING blob_id', [id])).rows[0];
      if (!row) return false;
      await collectBlobs(c, [row.blob_id]);
      return true;
    });
  }
}
