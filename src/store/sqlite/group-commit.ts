/**
 * Group commit for the one SQLite database: the writes asked for during one turn of the event loop
 * run in ONE transaction, so one fsync (synchronous=FULL) covers them all. better-sqlite3 is
 * synchronous: each fsync blocks the event loop, so one per message capped the whole gateway (it
 * measured ~10 ms per commit here, with the sealing workers left idle meanwhile).
 *
 * Each write runs in its own savepoint: one that throws is rolled back alone and its promise
 * rejects; the others commit — unless SQLite itself abandoned the transaction (disk full, I/O
 * error), in which case nothing of the batch is durable and every promise rejects. Every promise
 * settles only once the transaction is on disk.
 *
 * The fsync itself runs off the event loop (issue 31): a durable batch commits with
 * synchronous=NORMAL (SQLite writes the WAL frames, no fsync) and the WAL file is then fdatasync'ed
 * on libuv's thread pool — what synchronous=FULL does at COMMIT in WAL mode, without blocking every
 * session of the gateway for the disk's time (14 % of the main thread's time under imaptest's
 * logout=0 profile). The batch's promises settle after that fdatasync, so a caller's answer (an
 * APPEND's OK, a 250) still waits for the disk. Batches that come meanwhile commit and share the
 * next fdatasync. Another session of this process may read a committed row before it is on disk (it
 * is in the OS's cache: a crash of the process loses nothing, a power cut before the fdatasync may).
 * Without a WAL file to open (not created yet), a durable batch commits with FULL, as before.
 */
import fs from 'node:fs';
import type Database from 'better-sqlite3';

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

interface Pending {
  work: () => unknown;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

// Captured at load: the flush must run even where a test fakes the timers later.
const defer = globalThis.setImmediate;

export class GroupCommit {
  private pending: Pending[] = [];
  /**
   * True while a `SqliteStore.write` transaction is open on the connection: a flush then waits, so
   * that no batch of the group ever joins (and shares the fate of) that transaction.
   */
  held = false;
  /** Set while the checkpointer finishes the WAL with no write under way (pauseFor): batches wait for it. */
  private gate: Promise<void> | undefined;
  /** Called after each batch that committed (the checkpointer counts on it). */
  onCommit: (() => void) | undefined;

  /** The WAL file, opened once it exists; its inode is checked before each sync. */
  private wal: { fd: number; ino: number } | undefined;
  /** The fdatasync running now, and the one queued behind it for batches committed meanwhile. */
  private syncing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  /**
   * The batch's transaction and each write's savepoint, made once: better-sqlite3 builds four
   * wrapper functions at every db.transaction() call (2 % of the main thread under imaptest's long
   * session, where most batches hold one write).
   */
  private readonly inBatch: Database.Transaction<(batch: Pending[], outcomes: Outcome[]) => void>;
  private readonly inSavepoint: Database.Transaction<(work: () => unknown) => unknown>;
  /** The two synchronous levels, as statements prepared once (exec() parsed the SQL twice a batch). */
  private readonly syncNormal: Database.Statement;
  private readonly syncFull: Database.Statement;

  /** `walFile`: the database's `-wal` file (omitted: every durable batch commits with FULL). */
  constructor(
    private readonly db: Database.Database,
    private readonly walFile?: string,
  ) {
    this.inSavepoint = db.transaction((work: () => unknown) => work());
    this.inBatch = db.transaction((batch: Pending[], outcomes: Outcome[]) => {
      // One write alone (a single session's usual batch) needs no savepoint: if it throws, the
      // transaction it is alone in rolls back, which is what its savepoint would have done.
      if (batch.length === 1) {
        outcomes.push({ ok: true, value: batch[0]!.work() });
        return;
      }
      for (const p of batch) {
        try {
          outcomes.push({ ok: true, value: this.inSavepoint(p.work) }); // nested: a savepoint
        } catch (err) {
          // Some errors (disk full, I/O, out of memory) make SQLite roll back the WHOLE transaction:
          // going on would run the next writes in autocommit mode, committed while reported failed.
          if (!this.db.inTransaction) throw err;
          outcomes.push({ ok: false, err });
        }
      }
    });
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /**
   * Runs `work` (synchronous, this database only) in the next group transaction.
   *
   * `durable: false` is for state a power cut may lose without harm — IMAP flags, expunges, the \Recent
   * watermark, the metadata cache — as Dovecot's fsync_mode=optimized does for flag changes: a batch
   * with only such writes commits without fsync (WAL with synchronous=NORMAL: a crash of the process,
   * kill -9 included, still loses nothing; only the OS going down may). The next durable batch's
   * fsync covers them too, since the WAL is written in order. Mail, queue and audit stay durable.
   */
  run<T>(work: () => T, options: { durable?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const durable = options.durable ?? true;
      if (this.pending.push({ work, durable, resolve: resolve as (v: unknown) => void, reject }) === 1) defer(() => this.flush());
    });
  }

  /**
   * Runs `work` with no batch written meanwhile: what is asked for during it waits, in order, and is
   * written once it ends. The writes are not lost nor refused, only later by `work`'s time.
   */
  async pauseFor<T>(work: () => Promise<T>): Promise<T> {
    let open!: () => void;
    this.gate = new Promise<void>((resolve) => { open = resolve; });
    try {
      return await work();
    } finally {
      this.gate = undefined;
      open();
    }
  }

  private flush(): void {
    if (this.held) { defer(() => this.flush()); return; }
    if (this.gate) { void this.gate.then(() => this.flush()); return; }
    const batch = this.pending;
    this.pending = [];
    const outcomes: Outcome[] = [];
    const relaxed = !batch.some((p) => p.durable);
    // Durable with a WAL file to sync: NORMAL here, the fdatasync after the commit, off the event loop.
    const syncAfter = !relaxed && this.openWal();
    // Prepared statements, not pragma(): pragma() prepares a statement and reads its rows, 44 µs a
    // NORMAL/FULL pair against 5 µs, twice per batch on the thread that serves every session.
    if (relaxed || syncAfter) this.syncNormal.run();
    try {
      // IMMEDIATE takes the write lock first: reads inside (the audit chain head) cannot be forked.
      this.inBatch.immediate(batch, outcomes);
    } catch (err) {
      // The commit itself failed: nothing of the batch is durable.
      for (const p of batch) p.reject(err);
      return;
    } finally {
      if (relaxed || syncAfter) this.syncFull.run();
    }
    this.onCommit?.();
    const settle = (): void => batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.err);
    });
    if (!syncAfter) { settle(); return; }
    // Not durable until the WAL is on disk: a failed sync fails every write of the batch.
    this.syncWal().then(settle, (err: unknown) => { for (const p of batch) p.reject(err); });
  }

  /** Whether the WAL file is open (opening it once it exists). */
  private openWal(): boolean {
    if (this.wal) return true;
    if (!this.walFile) return false;
    try {
      const fd = fs.openSync(this.walFile, 'r');
      this.wal = { fd, ino: fs.fstatSync(fd).ino };
      return true;
    } catch {
      return false; // not created yet: this batch commits with FULL
    }
  }

  /**
   * Resolves once everything committed so far is on disk: one fdatasync at a time; batches committed
   * while one runs wait for the next one (it may have started before their frames were written).
   */
  private syncWal(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.syncing) return this.startSync();
    const queued = this.syncing.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.startSync();
    });
    this.queued = queued;
    return queued;
  }

  private startSync(): Promise<void> {
    const running = this.syncOnce().finally(() => {
      if (this.syncing === running) this.syncing = undefined;
    });
    this.syncing = running;
    return running;
  }

  private async syncOnce(): Promise<void> {
    const wal = this.wal!;
    // The WAL is the same file for as long as this connection is open; should it ever be replaced (a
    // new inode under the name), the new file is synced: never a stale one in its place.
    // statSync: a stat of a file just written answers from the inode cache in microseconds, where
    // the promise form cost a round trip through libuv's pool before every fdatasync (~65 µs of an
    // APPEND's answer, issue 31).
    let current: number | undefined;
    try {
      current = fs.statSync(this.walFile!).ino;
    } catch {
      current = undefined;
    }
    if (current !== undefined && current !== wal.ino) {
      const fd = fs.openSync(this.walFile!, 'r');
      this.wal = { fd, ino: fs.fstatSync(fd).ino };
      fs.close(wal.fd, () => undefined);
      return this.syncOnce();
    }
    await new Promise<void>((resolve, reject) => fs.fdatasync(wal.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** After the last sync: the WAL file descriptor is closed (the database closes on its own). */
  async close(): Promise<void> {
    await this.queued?.catch(() => undefined);
    await this.syncing?.catch(() => undefined);
    if (this.wal) fs.closeSync(this.wal.fd);
    this.wal = undefined;
  }
}
