import { FailureWindow } from '../../util/failure-window.js';

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
  private readonly window: FailureWindow;

  constructor(readonly maxFailures: number, readonly windowMs: number) {
    this.window = new FailureWindow(windowMs);
  }

  private key(account: string, remote: string): string {
    return `${account.toLowerCase()}\u0000${remote}`;
  }

  isBlocked(account: string, remote: string, now = Date.now()): boolean {
    return this.window.count(this.key(account, remote), now) >= this.maxFailures;
  }

  recordFailure(account: string, remote: string, now = Date.now()): void {
    this.window.record(this.key(account, remote), now);
  }
}
