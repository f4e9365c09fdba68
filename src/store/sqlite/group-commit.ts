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
 */
import type Database from 'better-sqlite3';

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

  constructor(private readonly db: Database.Database) {}

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

  private flush(): void {
    if (this.held) { defer(() => this.flush()); return; }
    const batch = this.pending;
    this.pending = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    const relaxed = !batch.some((p) => p.durable);
    if (relaxed) this.db.pragma('synchronous = NORMAL');
    try {
      // IMMEDIATE takes the write lock first: reads inside (the audit chain head) cannot be forked.
      this.db.transaction(() => {
        for (const p of batch) {
          try {
            outcomes.push({ ok: true, value: this.db.transaction(p.work)() }); // nested: a savepoint
          } catch (err) {
            // Some errors (disk full, I/O, out of memory) make SQLite roll back the WHOLE transaction:
            // going on would run the next writes in autocommit mode, committed while reported failed.
            if (!this.db.inTransaction) throw err;
            outcomes.push({ ok: false, err });
          }
        }
      }).immediate();
    } catch (err) {
      // The commit itself failed: nothing of the batch is durable.
      for (const p of batch) p.reject(err);
      return;
    } finally {
      if (relaxed) this.db.pragma('synchronous = FULL');
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.err);
    });
  }
}
