import type { LoginFailureRepo } from './types.js';

/**
 * Failed logins in memory, for a store one process uses (SQLite): a restart forgets, which only
 * helps a legitimate user. Old entries leave as they are read; past 100 000 keys every key is
 * pruned, so a flood of distinct keys cannot grow it for ever.
 */
export class MemoryLoginFailures implements LoginFailureRepo {
  private readonly failures = new Map<string, number[]>();
  /** The longest window asked for: what pruning keeps. */
  private longestWindowMs = 0;

  private recent(key: string, windowMs: number, now: number): number[] {
    this.longestWindowMs = Math.max(this.longestWindowMs, windowMs);
    const list = (this.failures.get(key) ?? []).filter((time) => now - time < this.longestWindowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list.filter((time) => now - time < windowMs);
  }

  async count(key: string, windowMs: number, now = Date.now()): Promise<number> {
    return this.recent(key, windowMs, now).length;
  }

  async record(key: string, windowMs: number, now = Date.now()): Promise<number> {
    const count = this.recent(key, windowMs, now).length + 1;
    this.failures.set(key, [...(this.failures.get(key) ?? []), now]);
    if (this.failures.size > 100_000) for (const k of [...this.failures.keys()]) this.recent(k, windowMs, now);
    return count;
  }

  async clear(key: string): Promise<void> {
    this.failures.delete(key);
  }
}
