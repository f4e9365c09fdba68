/**
 * Counts failed logins per (user, remote address) in a sliding window. Once the limit is reached,
 * further attempts are refused without asking the backend until old failures leave the window.
 */
export class AuthLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  private key(user: string, remoteAddress: string): string {
    return `${user.toLowerCase()}\u0000${remoteAddress}`;
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((time) => now - time < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  isBlocked(user: string, remoteAddress: string, now = Date.now()): boolean {
    return this.recent(this.key(user, remoteAddress), now).length >= this.maxFailures;
  }

  recordFailure(user: string, remoteAddress: string, now = Date.now()): void {
    const key = this.key(user, remoteAddress);
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 100_000) this.prune(now);
  }

  recordSuccess(user: string, remoteAddress: string): void {
    this.failures.delete(this.key(user, remoteAddress));
  }

  private prune(now: number): void {
    for (const key of [...this.failures.keys()]) this.recent(key, now);
  }
}
