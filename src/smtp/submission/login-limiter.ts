/**
 * Failed SMTP logins per remote address in a sliding window. Once `maxFailures` is reached, every
 * AUTH from that address is refused (454 4.7.0) without checking the password, until old failures
 * leave the window: password guessing gets a few tries per window, not thousands. In memory, per
 * process — a restart forgets, which only ever helps a legitimate user.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(readonly maxFailures: number, readonly windowMs: number) {}

  private recent(remote: string, now: number): number[] {
    const list = (this.failures.get(remote) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length) this.failures.set(remote, list);
    else this.failures.delete(remote);
    return list;
  }

  isBlocked(remote: string, now = Date.now()): boolean {
    return this.recent(remote, now).length >= this.maxFailures;
  }

  recordFailure(remote: string, now = Date.now()): void {
    const list = this.recent(remote, now);
    list.push(now);
    this.failures.set(remote, list);
    if (this.failures.size > 100_000) for (const r of [...this.failures.keys()]) this.recent(r, now);
  }
}
