import type { SMTPServerSession } from 'smtp-server';
import type { GatewayContext } from '../../context.js';
import type { Logger } from '../../log.js';
import type { DeliveryService } from '../delivery.js';
import type { SmtpReply } from '../replies.js';
import type { LoginLimiter } from './login-limiter.js';
import { stateOf } from './session-state.js';
import type { TrustStore } from '../../pki/index.js';

/** What every submission stage needs; built once by startSubmission. */
export interface SubmissionDeps {
  ctx: GatewayContext;
  log: Logger;
  trust: TrustStore;
  limiter: LoginLimiter;
  delivery: DeliveryService;
  maxRecipients: number;
}

/**
 * Records a refusal in the audit trail and the log, and returns the reply to send. Details are
 * codes and addresses only — never content or patient data.
 */
export async function refuse(deps: SubmissionDeps, session: SMTPServerSession, action: string, reply: SmtpReply, details: Record<string, unknown> = {}): Promise<SmtpReply> {
  const actor = stateOf(session).identity?.address ?? 'anonymous';
  const facts = { ...details, reason: reply.reason, reply: reply.responseCode, remote: session.remoteAddress, session: session.id };
  deps.log.info({ action, actor, ...facts }, 'smtp submission refused');
  try {
    await deps.ctx.audit.refused({ actor, action, outcome: 'refused', details: facts, source: session.remoteAddress, reason: reply.reason });
  } catch (err) {
    // The refusal stands even if the audit store is down; the log line above keeps the trace.
    deps.log.error({ action, code: (err as { code?: string }).code ?? (err as Error).name }, 'audit record failed');
  }
  return reply;
}

/** Logs an unexpected error by code/name only (never its text: it might quote input). */
export function logUnexpected(deps: SubmissionDeps, session: SMTPServerSession, stage: string, err: unknown): void {
  const e = err as { code?: unknown; name?: string };
  deps.log.error({ stage, session: session.id, remote: session.remoteAddress, code: typeof e?.code === 'string' ? e.code : undefined, error: e?.name ?? typeof err },
    'smtp submission: unexpected error, answered 451');
}
