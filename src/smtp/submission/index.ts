import { ConnectionGuard } from '../../net/connection-guard.js';
import type { GatewayContext } from '../../context.js';
import { DeliveryService } from '../delivery.js';
import type { SubmissionDeps } from './deps.js';
import { startListener, type SubmissionTls } from './listeners.js';
import { LoginLimiter } from './login-limiter.js';
import { TrustStore } from '../../pki/index.js';

export type { SubmissionTls } from './listeners.js';

/** Failed logins allowed per (account, remote address) within the window before AUTH answers 454. */
export const LOGIN_FAILURES_ALLOWED = 5;
export const LOGIN_FAILURE_WINDOW_MS = 10 * 60_000;
/** Recipients per message (RCPT TO beyond this gets 452 4.5.3). */
export const MAX_RECIPIENTS = 100;

export interface RunningSubmission {
  ports: { smtpSubmission: number; smtpSubmissionTls: number };
  close(): Promise<void>;
}

/**
 * The SMTP submission service for mail clients and practice software: STARTTLS on
 * `listen.smtpSubmission`, implicit TLS on `listen.smtpSubmissionTls`. See docs/smtp.md.
 */
export async function startSubmission(ctx: GatewayContext, opts: { tls: SubmissionTls; delivery?: DeliveryService; guard?: ConnectionGuard }): Promise<RunningSubmission> {
  // One guard for both ports: the caps count a client's connections to either.
  const guard = opts.guard ?? new ConnectionGuard(ctx.config.limits.connections.submission);
  const deps: SubmissionDeps = {
    ctx,
    log: ctx.logger.child({ component: 'smtp-submission' }),
    trust: new TrustStore(ctx.config.pki.trustAnchors, ctx.config.pki.crls),
    limiter: new LoginLimiter(ctx.store.loginFailures, LOGIN_FAILURES_ALLOWED, LOGIN_FAILURE_WINDOW_MS),
    delivery: opts.delivery ?? new DeliveryService(ctx),
    maxRecipients: MAX_RECIPIENTS,
  };
  const starttls = await startListener(deps, opts.tls, ctx.config.listen.smtpSubmission, false, guard);
  let implicit;
  try {
    implicit = await startListener(deps, opts.tls, ctx.config.listen.smtpSubmissionTls, true, guard);
  } catch (err) {
    await starttls.close();
    throw err;
  }
  return {
    ports: { smtpSubmission: starttls.port, smtpSubmissionTls: implicit.port },
    async close() {
      guard.stop();
      await Promise.all([starttls.close(), implicit.close()]);
    },
  };
}
