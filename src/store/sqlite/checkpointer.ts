/**
 * WAL checkpoints of the gateway's SQLite database, off the thread that serves every session.
 *
 * SQLite checkpoints on the connection that commits once the WAL passes 1000 pages: that COMMIT then
 * copies ~4 MB into the database file and fsyncs it, synchronously (better-sqlite3 has no async
 * call). With sealed messages stored inline, that is every ~70 APPENDs of 56 KB; measured alone, a
 * 56 KB commit cost 358 µs of the main thread on average with it and 161 µs without, and its p99
 * was 14 ms (23 ms at worst) against 0.3 ms: every IMAP and SMTP session of the gateway waits that long.
 *
 * Here the main connection never checkpoints (`wal_autocheckpoint = 0`): after a commit, a worker
 * thread with a connection of its own runs a PASSIVE checkpoint within `delayMs`. PASSIVE copies
 * what it can without waiting for or blocking readers and writers; what it could not copy is copied
 * at the next one. The thread starts with the first checkpoint and ends after `idleMs` without one
 * (an idle gateway holds no thread: issue 31's idle memory). Should the thread fail, the main
 * connection checkpoints again as SQLite does by default, and nothing is lost either way: a
 * checkpoint moves data already durable in the WAL.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { CheckpointReply } from './checkpoint-worker.js';

export interface CheckpointerOptions {
  /** How long after a commit the checkpoint runs (commits meanwhile share it). */
  delayMs: number;
  /** The thread ends after this long without a checkpoint. */
  idleMs: number;
  /** Told once, if the thread cannot be used and the main connection checkpoints again. */
  onFallback?: (reason: string) => void;
  /**
   * Runs `work` with no write of the main connection under way (SqliteStore: the group commit and
   * store.write transactions wait meanwhile). Without it the WAL is never caught up under a steady
   * stream of writes: see `catchUp`.
   */
  quiet?: <T>(work: () => Promise<T>) => Promise<T>;
}

export const DEFAULT_CHECKPOINTER: CheckpointerOptions = { delayMs: 1000, idleMs: 5000 };

/**
 * No checkpoint while the WAL file is smaller than SQLite's own threshold (1000 pages of 4 KB): a
 * gateway that only started (its few start-up writes) starts no thread, and a thread that has run
 * leaves some memory with the C allocator after it ends (~9 MB of idle RSS measured). SQLite reuses
 * the WAL file from its start after a checkpoint without shrinking it, so once a gateway has written
 * that much, every commit is followed by a checkpoint within `delayMs`.
 */
const WAL_THRESHOLD_BYTES = 1000 * 4096;

/**
 * WAL frames (4 KB pages) past which a checkpoint that left frames behind is followed by a catch-up
 * with writes held (`catchUp`): SQLite's own checkpoint threshold.
 */
const CATCH_UP_FRAMES = 1000;

/** SQLite's default `wal_autocheckpoint`, restored if the thread fails. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

export class Checkpointer {
  private worker: Worker | undefined;
  private timer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private failed = false;
  /** Commits noted so far: a checkpoint tells by them whether commits landed while it ran. */
  private commits = 0;
  /**
   * Checkpoints run and frames copied so far, the WAL's frames at the last one, and the catch-ups
   * that left the WAL wholly copied (the tests read them).
   */
  readonly stats = { runs: 0, checkpointed: 0, lastLog: 0, caughtUp: 0 };

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly options: CheckpointerOptions = DEFAULT_CHECKPOINTER,
  ) {
    db.exec('PRAGMA wal_autocheckpoint = 0');
  }

  /** A commit happened: a checkpoint runs within `delayMs`. */
  noteCommit(): void {
    this.commits++;
    if (this.closed || this.failed) return;
    if (this.running) { this.again = true; return; }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.checkpointIfLarge().finally(() => {
        this.running = undefined;
        if (this.again) { this.again = false; this.noteCommit(); }
      });
    }, this.options.delayMs);
    this.timer.unref();
  }

  private async checkpointIfLarge(): Promise<void> {
    const size = await fs.promises.stat(`${this.file}-wal`).then((s) => s.size, () => 0);
    if (size >= WAL_THRESHOLD_BYTES) await this.checkpoint();
  }

  /** Runs a checkpoint now, whatever the WAL's size (tests). */
  async runNow(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    await this.running?.catch(() => undefined);
    if (this.closed || this.failed) return;
    this.running = this.checkpoint().finally(() => { this.running = undefined; });
    await this.running;
  }

  /** Whether the checkpoint thread is running now. */
  get threadRunning(): boolean {
    return this.worker !== undefined;
  }

  private async checkpoint(): Promise<void> {
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    try {
      const commitsBefore = this.commits;
      const reply = await this.passive();
      this.stats.runs++;
      this.stats.checkpointed += reply.checkpointed;
      this.stats.lastLog = reply.log;
      // Frames left behind, or committed while it ran: the WAL would not start over (catchUp).
      const behind = reply.checkpointed < reply.log || this.commits !== commitsBefore;
      if (behind && reply.log >= CATCH_UP_FRAMES && this.options.quiet) await this.catchUp();
    } catch (err) {
      this.fallBack((err as Error).message);
      return;
    }
    if (!this.closed) {
      this.idleTimer = setTimeout(() => { this.idleTimer = undefined; void this.stopWorker(); }, this.options.idleMs);
      this.idleTimer.unref();
    }
  }

  /** One PASSIVE checkpoint on the thread; what it reports. */
  private async passive(): Promise<{ log: number; checkpointed: number }> {
    const worker = this.worker ?? this.start();
    const reply = await new Promise<CheckpointReply>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the checkpoint thread ended (exit code ${code})`));
      worker.once('exit', onExit);
      worker.once('message', (m: CheckpointReply) => { worker.off('exit', onExit); resolve(m); });
      worker.postMessage('checkpoint');
    });
    if (!reply.ok) throw new Error(reply.message);
    return reply;
  }

  /**
   * SQLite writes the WAL from its beginning again only when a write starts on a WAL that is wholly
   * copied into the database. Under a steady stream of writes (one IMAP client that never stops:
   * a commit every millisecond or so) a PASSIVE checkpoint never is: commits land while it copies
   * and fsyncs, so the WAL grew without end — 460 MB in 20 s of imaptest's one-client session — and
   * every commit's fdatasync extended the file (its size: a journal commit in the file system) where
   * writing over the WAL's old frames syncs only the data. So after the bulk of the copy (above, no
   * write held), the few frames committed meanwhile are copied with the main connection's writes
   * held — they wait, the thread that serves the sessions does not — and the next commit starts
   * the WAL over (truncated to `journal_size_limit` if it had grown past it).
   */
  private async catchUp(): Promise<void> {
    const reply = await this.options.quiet!(() => this.passive());
    if (reply.log === reply.checkpointed) this.stats.caughtUp++;
  }

  private start(): Worker {
    // From dist the entry is .js; run from source (tsx: benches) it is .ts and the loader is inherited.
    const entry = new URL(import.meta.url.endsWith('.ts') ? './checkpoint-worker.ts' : './checkpoint-worker.js', import.meta.url);
    const worker = new Worker(entry, { workerData: { file: this.file } });
    worker.on('error', () => undefined); // reported through 'exit' to the waiting checkpoint
    worker.unref();
    this.worker = worker;
    worker.once('exit', () => { if (this.worker === worker) this.worker = undefined; });
    return worker;
  }

  /** The main connection checkpoints again, as SQLite does by default. */
  private fallBack(reason: string): void {
    if (this.failed) return;
    this.failed = true;
    void this.stopWorker();
    if (this.db.open) this.db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    this.options.onFallback?.(reason);
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    // A thread that does not end on its own within 2 s is ended.
    const timeout = setTimeout(() => void worker.terminate(), 2000);
    timeout.unref();
    await exited;
    clearTimeout(timeout);
  }

  /** After the last checkpoint (closing the database then checkpoints what is left). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
    await this.running?.catch(() => undefined);
    await this.stopWorker();
  }
}
