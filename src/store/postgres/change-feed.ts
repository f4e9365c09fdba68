import type pg from 'pg';
import type { ChangeFeed, StoredMailboxChange } from '../types.js';
import type { PgDatabase } from './pg-database.js';

const CHANNEL = 'medgate_mailbox';
/** NOTIFY payloads are limited to 8000 bytes: a large expunge is sent in parts. */
const UIDS_PER_NOTIFICATION = 500;

interface Wire {
  /** Publishing node: a node ignores its own notifications (its sessions heard them in process). */
  n: string;
  c: StoredMailboxChange;
}

function split(change: StoredMailboxChange): StoredMailboxChange[] {
  if (change.type !== 'expunge' || change.uids.length <= UIDS_PER_NOTIFICATION) return [change];
  const parts: StoredMailboxChange[] = [];
  for (let i = 0; i < change.uids.length; i += UIDS_PER_NOTIFICATION) parts.push({ ...change, uids: change.uids.slice(i, i + UIDS_PER_NOTIFICATION) });
  return parts;
}

/**
 * Mailbox changes between nodes over PostgreSQL LISTEN/NOTIFY. One connection per node listens
 * (outside the pool, which must not lose it); it is re-opened with a backoff when the server goes
 * away. A notification sent while a node is not listening is lost: its IMAP sessions still see
 * the change at their next command (NOOP, IDLE re-issue), as RFC 3501 allows.
 */
export class PgChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(change: StoredMailboxChange) => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 250;
  private closed = false;
  private sending: Promise<void> = Promise.resolve();

  constructor(private readonly db: PgDatabase, private readonly nodeId: string, private readonly onError: (code: string) => void = () => {}) {}

  /** Starts listening; resolves once LISTEN is in place (or failed: it keeps retrying). */
  start(): Promise<void> {
    return (this.connecting ??= this.connect().finally(() => { this.connecting = undefined; }));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await this.db.dedicated();
      client.on('notification', (msg) => this.receive(msg.payload));
      client.on('error', (err) => this.lost((err as { code?: string }).code ?? 'PG_LISTEN_ERROR'));
      client.on('end', () => this.lost('PG_LISTEN_ENDED'));
      await client.query(`LISTEN ${CHANNEL}`);
      if (this.closed) { await client.end().catch(() => undefined); return; }
      this.client = client;
      this.retryMs = 250;
    } catch (err) {
      this.lost((err as { code?: string }).code ?? 'PG_LISTEN_FAILED');
    }
  }

  private lost(code: string): void {
    if (this.closed) return;
    const dead = this.client;
    this.client = undefined;
    dead?.removeAllListeners('end');
    void dead?.end().catch(() => undefined);
    if (this.retryTimer) return;
    this.onError(code);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 5000);
  }

  private receive(payload: string | undefined): void {
    if (!payload) return;
    let wire: Wire;
    try {
      wire = JSON.parse(payload) as Wire;
    } catch {
      return;
    }
    if (wire.n === this.nodeId || !wire.c || typeof wire.c.mailboxId !== 'number') return;
    for (const listener of this.listeners) listener(wire.c);
  }

  /** In the order published: the other nodes must see an EXISTS before the EXPUNGE of the same UID. */
  publish(change: StoredMailboxChange): void {
    for (const part of split(change)) {
      const payload = JSON.stringify({ n: this.nodeId, c: part } satisfies Wire);
      this.sending = this.sending
        .then(() => this.db.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]))
        .then(() => undefined, (err: unknown) => this.onError((err as { code?: string }).code ?? 'PG_NOTIFY_FAILED'));
    }
  }

  onRemote(listener: (change: StoredMailboxChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether this node currently listens (health). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sending;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
    }
  }
}
