/**
 * Failure times per key in a sliding window, in memory: what every login limit counts (per account
 * and address for SMTP and IMAP, per address for password spraying). Old entries leave as they are
 * read; past 100 000 keys every key is pruned, so a flood of distinct keys cannot grow it for ever.
 */
export class FailureWindow {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly windowMs: number) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((time) => now - time < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Failures of `key` still in the window. */
  count(key: string, now = Date.now()): number {
    return this.recent(key, now).length;
  }

  /** Records one failure of `key`; returns how many are in the window now. */
  record(key: string, now = Date.now()): number {
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 100_000) for (const k of [...this.failures.keys()]) this.recent(k, now);
    return list.length;
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}
