import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MedgateError } from '../../errors.js';
import type { MigrateOptions, PoolStats, PurgeReport, SettingsRepo, Store, StoreTx } from '../types.js';
import { MemoryLoginFailures } from '../memory-login-failures.js';
import { SqliteAccountRepo } from './account-repo.js';
import { SqliteAuditRepo } from './audit-repo.js';
import { SqliteDirectoryRepo } from './directory-repo.js';
import { SqliteFilingRepo } from './filing-repo.js';
import { SqliteMailRepo } from './mail-repo.js';
import { SqliteQueueRepo } from './queue-repo.js';
import { MIGRATIONS } from './migrations.js';
import { appliedSchemaVersion, SCHEMA_MIGRATIONS_DDL } from '../schema-version.js';
import { BlobFiles } from '../files/blob-files.js';
import { GroupCommit } from './group-commit.js';
import { Checkpointer, DEFAULT_CHECKPOINTER, type CheckpointerOptions } from './checkpointer.js';
import { withSqliteStartupLock } from './startup-lock.js';

/**
 * One queue of `write` transactions per database file in this process, whichever SqliteStore
 * instance asks: a second instance's BEGIN IMMEDIATE, issued while the first one's transaction
 * waits for a microtask, would block the one thread in SQLite's busy wait until it timed out.
 * Other processes are kept out by the write lock itself (busy_timeout).
 */
const writeQueues = new Map<string, { tail: Promise<unknown> }>();

/** Settings key present while a migration's removed clear values may still sit in WAL frames (truncateWalIfPending). */
const WAL_PURGE_PENDING = 'migration.wal_purge_pending';

class SqliteSettingsRepo implements SettingsRepo {
  constructor(private readonly db: Database.Database) {}
  async get(key: string): Promise<string | undefined> {
    const r = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }
  async set(key: string, value: string): Promise<void> {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}

/** The WAL file's size once it starts over (SQLite's journal_size_limit). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;
  readonly directory: SqliteDirectoryRepo;
  readonly accounts: SqliteAccountRepo;
  readonly audit: SqliteAuditRepo;
  readonly settings: SqliteSettingsRepo;
  readonly mail: SqliteMailRepo;
  readonly queue: SqliteQueueRepo;
  readonly filing: SqliteFilingRepo;
  readonly loginFailures = new MemoryLoginFailures();
  private readonly group: GroupCommit;
  private checkpointer: Checkpointer | undefined;
  /** The database file (the checkpoint thread opens it too). */
  private readonly file: string;
  /** `write` transactions of this process on this file, one after the other (see `writeQueues`). */
  private readonly writes: { tail: Promise<unknown> };

  /** Large sealed messages: files under `blobs/` beside the database file. */
  private constructor(db: Database.Database, blobDir: string, file: string, private readonly lockFile: string) {
    this.db = db;
    this.file = file;
    let queue = writeQueues.get(file);
    if (!queue) writeQueues.set(file, (queue = { tail: Promise.resolve() }));
    this.writes = queue;
    this.directory = new SqliteDirectoryRepo(db);
    this.accounts = new SqliteAccountRepo(db);
    // One group commit for the writes on the message path: mail, queue updates, audit records.
    const group = new GroupCommit(db, `${file}-wal`);
    this.group = group;
    this.audit = new SqliteAuditRepo(db, group);
    this.settings = new SqliteSettingsRepo(db);
    this.mail = new SqliteMailRepo(db, new BlobFiles(blobDir), group);
    this.queue = new SqliteQueueRepo(db, this.mail, group);
    this.filing = new SqliteFilingRepo(db, (work) => this.exclusive(() => work()));
  }

  /** Opens (creating if needed) the database file; WAL with FULL sync so a commit survives power loss. */
  static open(file: string): SqliteStore {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    let db: Database.Database;
    try {
      // Created owner-only before SQLite opens it: SQLite gives the WAL and SHM the database's mode.
      fs.closeSync(fs.openSync(file, 'a', 0o600));
      db = new Database(file);
    } catch (err) {
      throw new MedgateError('STORE_OPEN_FAILED', `cannot open the database ${file}: ${(err as Error).message}`, { file });
    }
    // First: switching a new file to WAL needs a moment alone with it, and another process may be
    // opening it at the same time (init and serve started together).
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // When the WAL starts over (checkpointer.ts, catchUp), a file grown past this is cut back to
    // it: a burst leaves no large WAL behind, and a steady load (under 64 MiB a checkpoint cycle)
    // writes over the same file without extending it.
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.pragma('foreign_keys = ON');
    cachePreparedStatements(db);
    return new SqliteStore(db, path.join(path.dirname(file), 'blobs'), path.resolve(file), `${file}.startup-lock`);
  }

  async migrate(options: MigrateOptions = {}): Promise<number> {
    this.db.exec(SCHEMA_MIGRATIONS_DDL);
    const applied = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
    let current = appliedSchemaVersion(applied, MIGRATIONS);
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      const secureBefore = m.purgesClearValues ? this.db.pragma('secure_delete', { simple: true }) as number : undefined;
      // Zeroes what the migration deletes or rewrites (cells, freed pages), in the file and the WAL frames it writes.
      if (m.purgesClearValues) this.db.pragma('secure_delete = ON');
      try {
        // IMMEDIATE, and asked again inside: another process starting at the same moment (init and
        // serve together) may have applied it since the read above; it must not be applied twice.
        this.db.transaction(() => {
          if (this.db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version)) return;
          if (m.sql) this.db.exec(m.sql);
          m.convert?.(this.db, options);
          // Until the WAL frames that held the removed values are gone, this start has more to do,
          // and so has the next one if this one cannot (truncateWalIfPending).
          if (m.purgesClearValues) this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(WAL_PURGE_PENDING, String(m.version));
          this.db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)')
            .run(m.version, m.description, new Date().toISOString());
        }).immediate();
      } finally {
        if (secureBefore !== undefined) this.db.pragma(`secure_delete = ${secureBefore}`);
      }
      current = m.version;
    }
    await this.truncateWalIfPending(options.walPurgeWaitMs ?? 30_000);
    return current;
  }

  /**
   * VACUUM rebuilds the file from the rows it holds, so no freed page or cell keeps an old value;
   * secure_delete zeroes what it frees on the way; the WAL, which VACUUM fills with the new pages
   * (older frames may hold old ones), is then emptied as after a migration that removed values. This
   * process's writers wait meanwhile; another process's (a running gateway) wait on the file lock
   * (their busy timeout): run it at a quiet time.
   */
  async purgeFreedSpace(options: { waitMs?: number } = {}): Promise<PurgeReport> {
    const bytes = (): number => (this.db.pragma('page_count', { simple: true }) as number) * (this.db.pragma('page_size', { simple: true }) as number);
    const before = bytes();
    // No write of this process under way: the transactions queued before, and the group commit's batches, wait.
    await this.inWriteQueue(() => this.group.pauseFor(async () => {
      const secureBefore = this.db.pragma('secure_delete', { simple: true }) as number;
      this.db.pragma('secure_delete = ON');
      try {
        this.db.exec('VACUUM');
        this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(WAL_PURGE_PENDING, 'purge');
      } catch (err) {
        // SQLITE_BUSY: a gateway held the write lock past the busy timeout; SQLITE_FULL: no room for
        // VACUUM's copy (SQLite's temporary directory) or the WAL. Nothing changed either way.
        throw new MedgateError('STORE_PURGE_FAILED', `the database was not rewritten (${(err as { code?: string }).code ?? (err as Error).message}): it needs about its own size free in the data directory and in SQLite's temporary directory (SQLITE_TMPDIR), and no long write under way; run \`medgate store purge\` again, best with the gateway stopped`,
          { file: this.file }, { cause: err });
      } finally {
        this.db.pragma(`secure_delete = ${secureBefore}`);
      }
    }));
    await this.truncateWalIfPending(options.waitMs ?? 30_000);
    return { fileBytes: { before, after: bytes() } };
  }

  /**
   * After a migration that removed clear values (`purgesClearValues`): older WAL frames still hold
   * them, so the WAL is copied over (the zeroed pages win) and emptied now, not at some later
   * checkpoint. A reader of an older snapshot (another medgate process on the file) makes the
   * checkpoint report `busy` and leaves the WAL as it was: it is tried again for `waitMs`, then the
   * start fails saying so, and the next start tries again (the marker stays until it has worked).
   */
  private async truncateWalIfPending(waitMs: number): Promise<void> {
    if (!this.db.prepare('SELECT 1 FROM settings WHERE key = ?').get(WAL_PURGE_PENDING)) return;
    const deadline = Date.now() + waitMs;
    const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${Math.min(busyTimeout, Math.max(100, waitMs))}`);
    try {
      for (;;) {
        const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        if (result?.busy === 0) break;
        if (Date.now() >= deadline) {
          throw new MedgateError('STORE_WAL_PURGE_PENDING',
            `the database's write-ahead log still holds values a migration or \`medgate store purge\` removed, and another process reading ${this.file} kept it from being emptied: stop the other medgate processes on this data directory and start again (or run \`medgate store purge\` again)`,
            { file: this.file });
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      // The marker's own removal is the only frame left: nothing clear in it.
      this.db.prepare('DELETE FROM settings WHERE key = ?').run(WAL_PURGE_PENDING);
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  /**
   * BEGIN IMMEDIATE takes SQLite's write lock at once (no other process writes until COMMIT), and
   * the queue keeps this process's writers apart. better-sqlite3 answers synchronously, so `work`
   * runs to its end within this turn of the event loop, unless it awaits something else: that is
   * caught (a check scheduled for the next turn fires first) and rolled back.
   */
  write<T>(work: (tx: StoreTx) => Promise<T>, options: { durable?: boolean } = {}): Promise<T> {
    // The filing repository on the same connection, its decisions in this transaction already.
    return this.exclusive((afterCommit, onRollback) => work({ mail: this.mail.txView(afterCommit, onRollback), filing: new SqliteFilingRepo(this.db, (inner) => inner()) }), options);
  }

  /**
   * One write transaction around `work`; `afterCommit` runs once it is committed, `onRollback` once
   * it is rolled back (undoing what `work` did outside the database: a sealed file it adopted).
   */
  private exclusive<T>(work: (afterCommit: Array<() => void>, onRollback: Array<() => void>) => Promise<T>, options: { durable?: boolean } = {}): Promise<T> {
    const run = async (): Promise<T> => {
      const afterCommit: Array<() => void> = [];
      const onRollback: Array<() => void> = [];
      const relaxed = options.durable === false;
      let yielded = false;
      const check = setImmediate(() => { yielded = true; });
      this.group.held = true;
      if (relaxed) this.db.exec('PRAGMA synchronous = NORMAL');
      try {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(afterCommit, onRollback);
          if (yielded) {
            throw new MedgateError('STORE_TX_YIELDED', 'a store transaction waited on something other than the store; it was rolled back');
          }
          this.db.exec('COMMIT');
          this.checkpointer?.noteCommit();
          for (const f of afterCommit) f();
          return result;
        } catch (err) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          for (const f of onRollback) {
            try { f(); } catch { /* a file left behind is swept at start (removeOrphanBlobFiles); the error that rolled back matters */ }
          }
          throw err;
        }
      } finally {
        if (relaxed) this.db.exec('PRAGMA synchronous = FULL');
        this.group.held = false;
        clearImmediate(check);
      }
    };
    return this.inWriteQueue(run);
  }

  /**
   * Runs `work` (a checkpoint on another connection) with no write of this connection under way:
   * after the store.write transactions before it, with the group commit's batches held meanwhile.
   */
  private quiet<T>(work: () => Promise<T>): Promise<T> {
    return this.inWriteQueue(() => this.group.pauseFor(work));
  }

  /** Runs `run` after everything queued on this file's writers before it, whatever their outcome. */
  private inWriteQueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.writes.tail.then(run, run);
    this.writes.tail = result.catch(() => undefined);
    return result;
  }

  withStartupLock<T>(work: () => Promise<T>): Promise<T> {
    return withSqliteStartupLock(this.lockFile, work);
  }

  async ping(): Promise<void> {
    try {
      this.db.prepare('SELECT 1').get();
    } catch (err) {
      throw new MedgateError('STORE_UNAVAILABLE', 'the database cannot be read', undefined, { cause: err });
    }
  }

  poolStats(): PoolStats | undefined {
    return undefined;
  }

  /** WAL checkpoints on a thread of their own, not in the commits of this connection (checkpointer.ts). */
  backgroundUpkeep(onFallback: (reason: string) => void, options: Partial<CheckpointerOptions> = {}): void {
    if (this.checkpointer) return;
    const checkpointer = new Checkpointer(this.db, this.file, { ...DEFAULT_CHECKPOINTER, ...options, onFallback, quiet: (work) => this.quiet(work) });
    this.checkpointer = checkpointer;
    this.group.onCommit = () => checkpointer.noteCommit();
  }

  /** The checkpointer, once backgroundUpkeep has started it (tests). */
  get walCheckpointer(): Checkpointer | undefined {
    return this.checkpointer;
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    await this.group.close();
    if (this.db.open) this.db.close();
  }
}

/**
 * better-sqlite3 compiles the SQL at every prepare(), and the repositories prepare at each call: a
 * submission prepared the same few dozen statements again for every message (1.5 ms of the main
 * thread's time each, measured under the SMTP bench). Statements are reusable (none of ours is
 * iterated or has its mode changed), and SQLite re-prepares them itself after a schema change.
 */
function cachePreparedStatements(db: Database.Database): void {
  const cache = new Map<string, Database.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      if (cache.size >= 1000) cache.clear(); // dynamic column lists are few; never unbounded
      statement = prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
}
