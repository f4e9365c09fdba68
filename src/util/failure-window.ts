import type { LoginFailureRepo } from '../store/types.js';

/**
 * Failure times per key in a sliding window: what every login limit counts (per account and
 * address for SMTP and IMAP, per address for password spraying, per doctor for access codes). The
 * counts live in the store's LoginFailureRepo, so the nodes of a cluster count them together; the
 * scope keeps one limit's keys apart from another's.
 */
export class FailureWindow {
  constructor(private readonly failures: LoginFailureRepo, private readonly scope: string, readonly windowMs: number) {}

  private key(key: string): string {
    return `${this.scope}:${key}`;
  }

  /** Failures of `key` still in the window. */
  count(key: string, now = Date.now()): Promise<number> {
    return this.failures.count(this.key(key), this.windowMs, now);
  }

  /** Records one failure of `key`; returns how many are in the window now. */
  record(key: string, now = Date.now()): Promise<number> {
    return this.failures.record(this.key(key), this.windowMs, now);
  }

  clear(key: string): Promise<void> {
    return this.failures.clear(this.key(key));
  }
}
