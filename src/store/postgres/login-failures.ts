import type { LoginFailureRepo } from '../types.js';
import type { PgDatabase } from './pg-database.js';

/**
 * PostgreSQL TEXT cannot hold NUL, which the limiters use to join account and address: escaped
 * one-to-one (backslash doubled, NUL as backslash-0), so two keys never meet.
 */
export function failureKey(key: string): string {
  return key.replace(/\\/g, '\\\\').replace(/\u0000/g, '\\0');
}

/**
 * Failed logins in a table every node writes and reads: a password sprayed across the nodes of a
 * cluster is counted once. Rows older than the longest window asked for are pruned now and then.
 */
export class PgLoginFailureRepo implements LoginFailureRepo {
  private longestWindowMs = 0;
  private lastPrune = 0;

  constructor(private readonly db: PgDatabase) {}

  private async prune(windowMs: number, now: number): Promise<void> {
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    await this.db.query('DELETE FROM login_failures WHERE at <= $1', [now - this.longestWindowMs]);
  }

  async record(key: string, windowMs: number, now = Date.now()): Promise<number> {
    await this.prune(windowMs, now);
    const r = await this.db.one<{ n: number }>(`WITH added AS (INSERT INTO login_failures (key, at) VALUES ($1, $2))
      SELECT COUNT(*) + 1 AS n FROM login_failures WHERE key = $1 AND at > $3`, [failureKey(key), now, now - windowMs]);
    return r?.n ?? 1;
  }

  async count(key: string, windowMs: number, now = Date.now()): Promise<number> {
    const r = await this.db.one<{ n: number }>('SELECT COUNT(*) AS n FROM login_failures WHERE key = $1 AND at > $2', [failureKey(key), now - windowMs]);
    return r?.n ?? 0;
  }

  async clear(key: string): Promise<void> {
    await this.db.query('DELETE FROM login_failures WHERE key = $1', [failureKey(key)]);
  }
}
