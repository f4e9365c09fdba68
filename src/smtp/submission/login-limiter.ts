/**
 * Failed SMTP logins per (account, remote address) in a sliding window. Once `maxFailures` is
 * reached, AUTH for that account from that address is refused (454 4.7.0) without checking the
 * password, until old failures leave the window: password guessing gets a few tries per window, not
 * thousands. The same account from another address is not affected (no lock-out of a doctor by
 * someone else's failures). Spraying one password over many accounts from one address is the
 * account service's per-address limit (`security.loginLimits`). In memory, per process — a restart
 * forgets, which only ever helps a legitimate user.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(readonly maxFailures: number, readonly windowMs: number) {}

  private key(account: string, remote: string): string {
    return `${account.toLowerCase()}\u0000${remote}`;
  }

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  isBlocked(account: string, remote: string, now = Date.now()): boolean {
    return this.recent(this.key(account, remote), now).length >= this.maxFailures;
  }

  recordFailure(account: string, remote: string, now = Date.now()): void {
    const key = this.key(account, remote);
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 100_000) for (const k of [...this.failures.keys()]) this.recent(k, now);
  }
}
