import type { LoginFailureRepo } from '../store/types.js';
import { FailureWindow } from '../util/failure-window.js';
import { addressKey } from '../net/address-key.js';

/**
 * Counts failed logins per (user, remote address) in a sliding window. Once the limit is reached,
 * further attempts are refused without asking the backend until old failures leave the window.
 * An IPv6 client counts by its /64 (src/net/address-key.ts): rotating addresses inside it buys no tries.
 */
export class AuthLimiter {
  private readonly window: FailureWindow;

  constructor(
    failures: LoginFailureRepo,
    private readonly maxFailures: number,
    windowMs: number,
  ) {
    this.window = new FailureWindow(failures, 'imap', windowMs);
  }

  private key(user: string, remoteAddress: string): string {
    return `${user.toLowerCase()}\u0000${addressKey(remoteAddress)}`;
  }

  async isBlocked(user: string, remoteAddress: string, now = Date.now()): Promise<boolean> {
    return (await this.window.count(this.key(user, remoteAddress), now)) >= this.maxFailures;
  }

  async recordFailure(user: string, remoteAddress: string, now = Date.now()): Promise<void> {
    await this.window.record(this.key(user, remoteAddress), now);
  }

  async recordSuccess(user: string, remoteAddress: string): Promise<void> {
    await this.window.clear(this.key(user, remoteAddress));
  }
}
