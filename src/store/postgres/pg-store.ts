import { MedgateError } from '../../errors.js';
import type { MigrateOptions, PoolStats, PurgeReport, Store, StoreTx } from '../types.js';
import type pg from 'pg';
import { retryConflicts } from './retry.js';
import { PgAccountRepo } from './account-repo.js';
import { PgAuditRepo } from './audit-repo.js';
import { PgChangeFeed } from './change-feed.js';
import { PgDirectoryRepo } from './directory-repo.js';
import { inTransaction, PgFilingRepo } from './filing-repo.js';
import { PgLoginFailureRepo } from './login-failures.js';
import { PgMailRepo } from './mail-repo.js';
import { PgDatabase } from './pg-database.js';
import { migratePostgres, withPgStartupLock } from './pg-migrate.js';
import { PgQueueRepo } from './queue-repo.js';
import { ReadCache } from './read-cache.js';
import { PgSettingsRepo } from './settings-repo.js';

export interface PgStoreOptions {
  url: string;
  poolSize?: number;
  connectTimeoutMs?: number;
  /** This node among those sharing the database: its own change notifications are not echoed back. */
  nodeId: string;
  /** Told a code (never a query or a value) when a connection is lost or the feed must reconnect. */
  onError?: (code: string) => void;
}

/** The PostgreSQL store: several nodes share one database and see each other's changes. */
export class PgStore implements Store {
  readonly kind = 'postgres' as const;
  readonly directory: PgDirectoryRepo;
  readonly accounts: PgAccountRepo;
  readonly audit: PgAuditRepo;
  readonly settings: PgSettingsRepo;
  readonly mail: PgMailRepo;
  readonly queue: PgQueueRepo;
  readonly filing: PgFilingRepo;
  readonly loginFailures: PgLoginFailureRepo;
  readonly changes: PgChangeFeed;
  /** Accounts, directory, settings and whitelist reads of this node (read-cache.ts). */
  readonly cache: ReadCache;
  private closed = false;

  private constructor(readonly db: PgDatabase, nodeId: string, onError?: (code: string) => void) {
    this.changes = new PgChangeFeed(db, nodeId, onError);
    this.cache = new ReadCache(() => this.changes.listening, (change) => this.changes.publishInvalidation(change));
    this.changes.onInvalidation((change) => this.cache.drop(change));
    this.directory = new PgDirectoryRepo(db, this.cache);
    this.accounts = new PgAccountRepo(db, this.cache);
    this.audit = new PgAuditRepo(db);
    this.settings = new PgSettingsRepo(db, this.cache);
    this.mail = new PgMailRepo(db);
    this.queue = new PgQueueRepo(db);
    this.filing = new PgFilingRepo(db);
    this.loginFailures = new PgLoginFailureRepo(db);
  }

  /**
   * Opens the pool and starts listening for other nodes' changes. Does not migrate (call
   * `migrate()`). An unreachable server is not fatal to the feed, which keeps retrying.
   */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    if (!/^postgres(ql)?:\/\//.test(options.url)) {
      throw new MedgateError('STORE_CONFIG_INVALID', 'the PostgreSQL URL must start with postgres:// or postgresql://');
    }
    const db = new PgDatabase({ url: options.url, poolSize: options.poolSize ?? 10, ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}), ...(options.onError ? { onError: options.onError } : {}) });
    const store = new PgStore(db, options.nodeId, options.onError);
    await store.changes.start();
    return store;
  }

  /**
   * One transaction on one connection, READ COMMITTED: the isolation comes from the row locks
   * `work` takes (`tx.mail.lockMailbox`), which other nodes' writers of the same rows wait for.
   * A deadlock or serialization failure rolls back and runs `work` again (retry.ts). `durable` is
   * SQLite's concern: every PostgreSQL commit is durable. `afterCommit` (fresh for each attempt)
   * runs once the attempt committed: a sealed spool file is removed only then, since a rolled-back
   * attempt (retried, or given up) still needs it.
   */
  write<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return retryConflicts(async () => {
      const afterCommit: Array<() => void> = [];
      const result = await this.db.tx((c) => work({ mail: this.mail.txView(c, afterCommit), filing: new PgFilingRepo(inTransaction(c)) }));
      for (const f of afterCommit) f();
      return result;
    });
  }

  async migrate(options: MigrateOptions = {}): Promise<number> {
    const version = await migratePostgres(this.db, undefined, options);
    // Migration 5 made the table: from now on each transaction leaves its commit marker.
    this.db.commitMarkers = version >= 5;
    return version;
  }

  /**
   * The tables that held names a person typed (folders, subscriptions), rewritten by VACUUM FULL: the
   * dead versions of renamed rows, and their index entries, are gone from the files. Their statistics
   * are taken again (ANALYZE) first, so the sampled values pg_statistic keeps are the new ones, and
   * pg_statistic itself rewritten (a superuser or the database's owner may). VACUUM skips, with a
   * mere warning, a table the role may not maintain: each rewrite is checked by its new file node.
   * Each VACUUM FULL locks its table for its duration: a few rows per folder, run at a quiet time.
   */
  async purgeFreedSpace(options: { waitMs?: number } = {}): Promise<PurgeReport> {
    const tables = ['mailboxes', 'orphan_subscriptions'];
    const c = await this.db.dedicated();
    const rewrite = async (table: string): Promise<boolean> => {
      const node = async (): Promise<string> => (await c.query<{ n: string }>('SELECT pg_relation_filenode($1::regclass)::text AS n', [table])).rows[0]!.n;
      const before = await node();
      await c.query(`VACUUM (FULL) ${table}`);
      return (await node()) !== before;
    };
    try {
      // Waits for the gateway's transactions on these tables to end, not for ever.
      await c.query("SET lock_timeout = '10s'");
      await c.query(`ANALYZE ${tables.join(', ')}`);
      await this.untilNoOlderSnapshot(c, options.waitMs ?? 10_000);
      for (const t of tables) {
        if (!(await rewrite(t))) {
          throw new MedgateError('STORE_PURGE_FAILED', `${t} was not rewritten: this database role may not VACUUM it; run \`medgate store purge\` as its owner`, { table: t });
        }
      }
      return { tables, statistics: (await rewrite('pg_statistic')) ? 'rewritten' : 'not-permitted' };
    } catch (err) {
      if (err instanceof MedgateError) throw err;
      throw new MedgateError('STORE_PURGE_FAILED', `the tables could not be rewritten (${(err as Error).message}): run \`medgate store purge\` again when no long transaction runs`, undefined, { cause: err });
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * VACUUM FULL copies into the new file every old row version a transaction of this database could
   * still see, or that one still running could (the removal horizon counts running transaction ids
   * as well as snapshots): the purge waits until every other session's snapshot and transaction are
   * newer than now (after the renames and the ANALYZE it removes), for at most `waitMs`, then says
   * which session held it.
   */
  private async untilNoOlderSnapshot(c: pg.ClientBase, waitMs: number): Promise<void> {
    const mark = (await c.query<{ x: string }>('SELECT (pg_current_xact_id()::text::bigint % 4294967296)::text AS x')).rows[0]!.x;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const older = (await c.query<{ pid: number; app: string }>(
        `SELECT pid, application_name AS app FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND ((backend_xmin IS NOT NULL AND age(backend_xmin) >= age($1::xid)) OR (backend_xid IS NOT NULL AND age(backend_xid) >= age($1::xid)))`, [mark])).rows;
      if (older.length === 0) return;
      if (Date.now() >= deadline) {
        throw new MedgateError('STORE_PURGE_FAILED',
          `a transaction older than the purge is still open (session ${older[0]!.pid}, ${older[0]!.app || 'no application name'}): the old row versions it can see would be kept; run \`medgate store purge\` again when it has ended`,
          { pids: older.map((o) => o.pid) });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  withStartupLock<T>(work: () => Promise<T>): Promise<T> {
    return withPgStartupLock(this.db, work);
  }

  async ping(): Promise<void> {
    try {
      await this.db.query('SELECT 1');
    } catch (err) {
      if (err instanceof MedgateError && err.code === 'STORE_UNAVAILABLE') throw err;
      throw new MedgateError('STORE_UNAVAILABLE', 'the database did not answer', undefined, { cause: err });
    }
  }

  poolStats(): PoolStats {
    const pool = this.db.pool;
    return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? this.db.options.poolSize, roundTrips: this.db.roundTrips };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.changes.close();
    await this.filing.close();
    await this.db.close();
  }
}
