import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { replies, type SenderRefusalReason, type SmtpReply } from '../replies.js';
import { refuse, type SubmissionDeps } from './deps.js';
import { stateOf } from './session-state.js';

/**
 * MAIL FROM: the session must be logged in, the address must be the account's own
 * (case-insensitive), and the sender must be active in the directory with a certificate that is
 * still valid (chain, dates, CRL). Returns the refusal, or undefined when the sender may send.
 */
export async function checkSender(deps: SubmissionDeps, address: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpReply | undefined> {
  const state = stateOf(session);
  state.senderEntry = undefined;
  state.recipients.clear();
  const from = address.address.trim().toLowerCase();
  const identity = state.identity;
  if (!identity) return refuse(deps, session, 'smtp.mail.refused', replies.authRequired(), { from });
  if (from !== identity.address) {
    return refuse(deps, session, 'smtp.mail.refused', replies.senderNotOwned(address.address, identity.address), { from, account: identity.address });
  }
  const status = await deps.ctx.directory.senderStatus(from);
  if (!status.ok) return refuse(deps, session, 'smtp.mail.refused', replies.senderRefused(from, status.reason), { from });
  const certPem = status.entry.certificatePem;
  let certProblem: SenderRefusalReason | undefined;
  if (!certPem) certProblem = 'no-certificate';
  else {
    const v = await deps.trust.validate(certPem, 'user');
    if (!v.ok && v.code === 'revocation-unavailable') {
      deps.log.warn({ session: session.id, from, detail: v.reason }, 'smtp submission: sender certificate revocation unavailable');
      return refuse(deps, session, 'smtp.mail.refused', replies.senderCertificateUnchecked(from), { from });
    }
    if (!v.ok) certProblem = v.code === 'expired' ? 'certificate-expired' : v.code === 'revoked' ? 'certificate-revoked' : 'certificate-invalid';
  }
  if (certProblem) return refuse(deps, session, 'smtp.mail.refused', replies.senderRefused(from, certProblem), { from });
  state.senderEntry = status.entry;
  return undefined;
}
