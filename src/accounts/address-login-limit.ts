import { MedgateError } from '../errors.js';
import type { LoginFailureRepo } from '../store/types.js';
import { FailureWindow } from '../util/failure-window.js';

/** Stable code of a login refused because its source address failed too often (SMTP 454 4.7.0, IMAP NO [UNAVAILABLE]). */
export const LOGIN_RATE_LIMITED = 'LOGIN_RATE_LIMITED';

export function loginRateLimited(): MedgateError {
  return new MedgateError(LOGIN_RATE_LIMITED, 'too many failed logins from this address, try again later');
}

export interface AddressLoginLimitOptions {
  maxFailuresPerAddress: number;
  windowSeconds: number;
  slowAfterFailures: number;
  delayMs: number;
  maxDelayMs: number;
}

/**
 * Failed password logins per source address, whatever the account: the defence against password
 * spraying (one password tried over many accounts), which per-(account, address) limits do not see.
 * Only failures count and a success does not reset the count, so owning one account does not buy
 * a sprayer more tries. Keyed by address alone: failures from one address never refuse the same
 * account from another. Counted in the store: across the nodes of a cluster (SQLite: in memory).
 */
export class AddressLoginLimit {
  private readonly window: FailureWindow;

  constructor(failures: LoginFailureRepo, scope: string, private readonly o: AddressLoginLimitOptions) {
    this.window = new FailureWindow(failures, scope, o.windowSeconds * 1000);
  }

  /** True when this address is refused without looking at the password. */
  async isRefused(remote: string, now = Date.now()): Promise<boolean> {
    return (await this.window.count(remote, now)) >= this.o.maxFailuresPerAddress;
  }

  /** Records a failure; returns how long to wait before answering it (0 below `slowAfterFailures`). */
  async recordFailure(remote: string, now = Date.now()): Promise<number> {
    const over = (await this.window.record(remote, now)) - this.o.slowAfterFailures;
    if (over <= 0 || this.o.delayMs === 0) return 0;
    return Math.min(this.o.maxDelayMs, this.o.delayMs * 2 ** Math.min(over - 1, 20));
  }
}
