import type pg from 'pg';
import type { ChangeFeed, StoredMailboxChange } from '../types.js';
import type { PgDatabase } from './pg-database.js';
import type { CachedTable, Invalidation } from './read-cache.js';

const CHANNEL = 'medgate_mailbox';
/** Cached rows written by a node (src/store/postgres/read-cache.ts). */
const CACHE_CHANNEL = 'medgate_cache';
const CACHED_TABLES = new Set<CachedTable>(['accounts', 'directory', 'settings', 'whitelist']);
/** NOTIFY payloads are limited to 8000 bytes: a large expunge is sent in parts. */
const UIDS_PER_NOTIFICATION = 500;
/** More keys of one table than this in one batch are announced as the whole table. */
const INVALIDATIONS_PER_TABLE = 32;

interface Wire {
  /** Publishing node: a node ignores its own notifications (its sessions heard them in process). */
  n: string;
  c: StoredMailboxChange;
}

interface CacheWire {
  n: string;
  t: CachedTable;
  k?: string | undefined;
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
  private readonly invalidationListeners = new Set<(change: Invalidation | 'all') => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 250;
  private closed = false;
  private sending: Promise<void> = Promise.resolve();
  /** Mailbox changes and cache invalidations waiting for the NOTIFY in flight: sent together in the next one. */
  private queued: string[] = [];
  private queuedInvalidations: Invalidation[] = [];
  private scheduled = false;

  constructor(private readonly db: PgDatabase, private readonly nodeId: string, private readonly onError: (code: string) => void = () => {}) {}

  /** Starts listening; resolves once LISTEN is in place (or failed: it keeps retrying). */
  start(): Promise<void> {
    return (this.connecting ??= this.connect().finally(() => { this.connecting = undefined; }));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let client: pg.Client | undefined;
    try {
      client = await this.db.dedicated();
      const own = client;
      client.on('notification', (msg) => (msg.channel === CACHE_CHANNEL ? this.receiveInvalidation(msg.payload) : this.receive(msg.payload)));
      // Every error and end of this connection is heard (an 'error' without a listener would end
      // the process); one from a connection already replaced must not drop its successor.
      client.on('error', (err) => this.lost(own, (err as { code?: string }).code ?? 'PG_LISTEN_ERROR'));
      client.on('end', () => this.lost(own, 'PG_LISTEN_ENDED'));
      await client.query(`LISTEN ${CHANNEL}; LISTEN ${CACHE_CHANNEL}`);
      if (this.closed) { await client.end().catch(() => undefined); return; }
      // Whatever was written while this node was not listening is unknown here.
      this.invalidateAll();
      this.client = client;
      this.retryMs = 250;
    } catch (err) {
      this.lost(client, (err as { code?: string }).code ?? 'PG_LISTEN_FAILED');
    }
  }

  /** `from` lost its connection (or could not listen): it is closed and another one opened later. */
  private lost(from: pg.Client | undefined, code: string): void {
    if (this.closed) return;
    if (from && this.client && from !== this.client) {
      from.removeAllListeners('end');
      void from.end().catch(() => undefined);
      return;
    }
    const dead = from ?? this.client;
    this.client = undefined;
    this.invalidateAll();
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

  private receiveInvalidation(payload: string | undefined): void {
    let wire: CacheWire;
    try {
      wire = JSON.parse(payload ?? '') as CacheWire;
    } catch {
      this.invalidateAll();
      return;
    }
    if (wire.n === this.nodeId) return;
    if (!CACHED_TABLES.has(wire.t)) { this.invalidateAll(); return; }
    for (const listener of this.invalidationListeners) listener({ table: wire.t, key: typeof wire.k === 'string' ? wire.k : undefined });
  }

  private invalidateAll(): void {
    for (const listener of this.invalidationListeners) listener('all');
  }

  /** Tells the other nodes that cached rows changed (sent with the next batch of notifications). */
  publishInvalidation(change: Invalidation): void {
    this.queuedInvalidations.push(change);
    this.schedule();
  }

  /**
   * The invalidations of one batch, fewest first: a table named whole covers its keys, and many
   * keys of one table (a directory import writes thousands) become the whole table.
   */
  private compactInvalidations(list: Invalidation[]): string[] {
    const byTable = new Map<CachedTable, Set<string> | 'all'>();
    for (const c of list) {
      const keys = byTable.get(c.table);
      if (keys === 'all') continue;
      if (c.key === undefined) { byTable.set(c.table, 'all'); continue; }
      const set = keys ?? new Set<string>();
      set.add(c.key);
      byTable.set(c.table, set.size > INVALIDATIONS_PER_TABLE ? 'all' : set);
    }
    const out: string[] = [];
    for (const [t, keys] of byTable) {
      if (keys === 'all') out.push(JSON.stringify({ n: this.nodeId, t } satisfies CacheWire));
      else for (const k of keys) out.push(JSON.stringify({ n: this.nodeId, t, k } satisfies CacheWire));
    }
    return out;
  }

  onInvalidation(listener: (change: Invalidation | 'all') => void): () => void {
    this.invalidationListeners.add(listener);
    return () => this.invalidationListeners.delete(listener);
  }

  /** In the order published: the other nodes must see an EXISTS before the EXPUNGE of the same UID. */
  publish(change: StoredMailboxChange): void {
    for (const part of split(change)) this.queued.push(JSON.stringify({ n: this.nodeId, c: part } satisfies Wire));
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return; // a send is already scheduled: it takes these too
    this.scheduled = true;
    // Changes published while one NOTIFY is in flight go in the next statement together, one round
    // trip for all (a message's INBOX and Sent copies, a burst of flag changes). One statement,
    // one transaction: PostgreSQL delivers its notifications in the order they were raised.
    this.sending = this.sending
      .then(() => {
        this.scheduled = false;
        const batch: Array<[string, string]> = [
          ...this.queued.map((p): [string, string] => [CHANNEL, p]),
          ...this.compactInvalidations(this.queuedInvalidations).map((p): [string, string] => [CACHE_CHANNEL, p]),
        ];
        this.queued = [];
        this.queuedInvalidations = [];
        return this.db.query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(c, p, ord) ORDER BY ord',
          [batch.map((b) => b[0]), batch.map((b) => b[1])]);
      })
      .then(() => undefined, (err: unknown) => this.onError((err as { code?: string }).code ?? 'PG_NOTIFY_FAILED'));
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
