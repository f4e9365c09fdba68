import type { LoginFailureRepo } from '../../store/types.js';
import { addressKey } from '../../net/address-key.js';
import { FailureWindow } from '../../util/failure-window.js';

/**
 * Failed SMTP logins per (account, remote address) in a sliding window. Once `maxFailures` is
 * reached, AUTH for that account from that address is refused (454 4.7.0) without checking the
 * password, until old failures leave the window: password guessing gets a few tries per window, not
 * thousands. The same account from another address is not affected (no lock-out of a doctor by
 * someone else's failures). Spraying one password over many accounts from one address is the
 * account service's per-address limit (`security.loginLimits`). Counted in the store, so across the
 * nodes of a cluster (in memory for SQLite: a restart forgets, which only helps a legitimate user).
 */
export class LoginLimiter {
  private readonly window: FailureWindow;

  constructor(failures: LoginFailureRepo, readonly maxFailures: number, readonly windowMs: number) {
    this.window = new FailureWindow(failures, 'smtp', windowMs);
  }

  private key(account: string, remote: string): string {
    // An IPv6 client counts by its /64 (src/net/address-key.ts), as every other per-address limit.
    return `${account.toLowerCase()}\u0000${addressKey(remote)}`;
  }

  async isBlocked(account: string, remote: string, now = Date.now()): Promise<boolean> {
    return (await this.window.count(this.key(account, remote), now)) >= this.maxFailures;
  }

  async recordFailure(account: string, remote: string, now = Date.now()): Promise<void> {
    await this.window.record(this.key(account, remote), now);
  }
}
