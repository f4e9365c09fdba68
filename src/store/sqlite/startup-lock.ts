import Database from 'better-sqlite3';
import { MedgateError } from '../../errors.js';

/**
 * A lock between the processes that open one SQLite data directory (`init` and `serve` started
 * together): an EXCLUSIVE transaction on a small lock database beside the store. SQLite takes an OS
 * file lock for it, which a process that dies releases by itself; no stale lock file to clean up.
 * Not the store's own file: its writes from this very process would wait for our lock.
 */
export async function withSqliteStartupLock<T>(lockFile: string, work: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const db = new Database(lockFile);
  try {
    // Asked again every few ms on the event loop: a busy_timeout would block it while another waits.
    db.pragma('busy_timeout = 0');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        db.exec('BEGIN EXCLUSIVE');
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        if (Date.now() > deadline) {
          throw new MedgateError('STARTUP_LOCK_TIMEOUT', `another medgate process has held the start-up lock ${lockFile} for ${Math.round(timeoutMs / 1000)} s: is one stuck? Stop it and start again`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    try {
      return await work();
    } finally {
      db.exec('ROLLBACK');
    }
  } finally {
    db.close();
  }
}
