import { FailureWindow } from '../util/failure-window.js';

/**
 * Counts failed logins per (user, remote address) in a sliding window. Once the limit is reached,
 * further attempts are refused without asking the backend until old failures leave the window.
 */
export class AuthLimiter {
  private readonly window: FailureWindow;

  constructor(
    private readonly maxFailures: number,
    windowMs: number,
  ) {
    this.window = new FailureWindow(windowMs);
  }

  private key(user: string, remoteAddress: string): string {
    return `${user.toLowerCase()}\u0000${remoteAddress}`;
  }

  isBlocked(user: string, remoteAddress: string, now = Date.now()): boolean {
    return this.window.count(this.key(user, remoteAddress), now) >= this.maxFailures;
  }

  recordFailure(user: string, remoteAddress: string, now = Date.now()): void {
    this.window.record(this.key(user, remoteAddress), now);
  }

  recordSuccess(user: string, remoteAddress: string): void {
    this.window.clear(this.key(user, remoteAddress));
  }
}
