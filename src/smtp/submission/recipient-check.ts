import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { replies, type SmtpReply } from '../replies.js';
import { refuse, type SubmissionDeps } from './deps.js';
import { stateOf } from './session-state.js';

/**
 * RCPT TO: the recipient must resolve to a local mailbox or a directory entry with a usable key in
 * a whitelisted domain — medgate never sends in clear. Accepted recipients are remembered with
 * their keys (sealing needs them) and whether they are record servers (DATA needs a patient then).
 */
export async function checkRecipient(deps: SubmissionDeps, address: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpReply | undefined> {
  const state = stateOf(session);
  const to = address.address.trim().toLowerCase();
  if (!state.identity || !state.senderEntry) return refuse(deps, session, 'smtp.rcpt.refused', replies.authRequired(), { to });
  if (!state.recipients.has(to) && state.recipients.size >= deps.maxRecipients) {
    return refuse(deps, session, 'smtp.rcpt.refused', replies.tooManyRecipients(deps.maxRecipients), { to, from: state.identity.address });
  }
  const sealer = await deps.ctx.sealer();
  const resolved = await sealer.resolveSubmissionRecipient(to);
  if (!resolved.ok) {
    return refuse(deps, session, 'smtp.rcpt.refused', replies.recipientRefused(to, resolved.reason), { to, from: state.identity.address });
  }
  state.recipients.set(to, { resolved, recordServer: await deps.ctx.directory.isRecordServer(to) });
  return undefined;
}
