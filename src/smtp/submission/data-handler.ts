import path from 'node:path';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { extractPatientIdentity } from '../../message/identity/index.js';
import { parseForExtraction } from '../../message/parse.js';
import { classifyMessage } from '../../message/classify/index.js';
import { checkRightsAll, rightsConfigOf } from '../../filing/index.js';
import type { DirectoryEntry } from '../../store/types.js';
import type { AcceptedRecipient, DsnRequest } from '../delivery.js';
import { isSmtpReply, replies, replyForError, SmtpReply } from '../replies.js';
import { logUnexpected, refuse, type SubmissionDeps } from './deps.js';
import { stateOf } from './session-state.js';
import { withSpooledMessage } from './spool.js';

/** RFC 3461 parameters of the transaction, as DeliveryService stores them with queue entries. */
function dsnOf(session: SMTPServerSession): DsnRequest {
  const env = session.envelope;
  const ret = env.dsn?.ret === 'FULL' || env.dsn?.ret === 'HDRS' ? env.dsn.ret : null;
  const recipients: DsnRequest['recipients'] = new Map();
  for (const r of env.rcptTo) {
    recipients.set(r.address.trim().toLowerCase(), { notify: r.dsn?.notify ?? null, orcpt: r.dsn?.orcpt ?? null });
  }
  return { ret, envid: env.dsn?.envid ?? null, recipients };
}

/**
 * What a record server needs before anything is committed: a named patient, and document types the
 * sender's role may put into a shared record (parse errors propagate: 554).
 */
async function recordServerCheck(raw: Buffer, sender: DirectoryEntry, ctx: SubmissionDeps['ctx']): Promise<SmtpReply | undefined> {
  const input = await parseForExtraction(raw);
  const extraction = extractPatientIdentity(input);
  if (!extraction.patient) return replies.patientRequired();
  const classification = classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, sender });
  const types = classification.documents.length ? classification.documents.map((d) => d.type) : [classification.type];
  const decision = checkRightsAll(sender, types, rightsConfigOf(ctx));
  return decision.ok ? undefined : replies.rightsRefused(decision.role, decision.reason);
}

/**
 * End of DATA: spool and size check, the record-server patient check, then the durable commit by
 * DeliveryService (seal once, INBOX + Sent + queue in one transaction). Returns the 250 text only
 * after the commit; any refusal is an SmtpReply, anything unexpected a 451 (the client retries).
 */
export async function acceptData(deps: SubmissionDeps, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
  const { ctx } = deps;
  const limit = ctx.config.limits.maxMessageBytes;
  const state = stateOf(session);
  const identity = state.identity;
  const senderEntry = state.senderEntry;
  const from = identity?.address ?? 'anonymous';
  const to = session.envelope.rcptTo.map((r) => r.address.trim().toLowerCase());
  try {
    return await withSpooledMessage(stream, path.join(ctx.config.dataDir, 'spool'), limit, async (spooled) => {
      if (spooled.oversized || stream.sizeExceeded) {
        throw await refuse(deps, session, 'smtp.data.refused', replies.messageTooBig(limit), { from, to, size: spooled.size });
      }
      if (!identity || !senderEntry) throw replies.authRequired();
      const accepted = to.map((a) => state.recipients.get(a)).filter((r) => !!r);
      if (accepted.length !== to.length || !accepted.length) throw replies.noRecipient();
      const raw = await spooled.read();
      try {
        const recordServerRefusal = accepted.some((r) => r.recordServer) ? await recordServerCheck(raw, senderEntry, ctx) : undefined;
        if (recordServerRefusal) throw await refuse(deps, session, 'smtp.data.refused', recordServerRefusal, { from, to });
        const result = await deps.delivery.acceptSubmission({
          raw,
          sender: { address: identity.address, pgpKey: identity.pgpKey, entry: senderEntry },
          envelopeFrom: identity.address,
          recipients: accepted.map((r): AcceptedRecipient => r.resolved),
          dsn: dsnOf(session),
        });
        deps.log.info({ session: session.id, from, to, id: result.id, messageId: result.messageId, size: spooled.size,
          local: result.deliveredLocally.length, queued: result.queued.length }, 'smtp submission accepted');
        return replies.queued(result.id);
      } catch (err) {
        if (isSmtpReply(err)) throw err;
        const reply = replyForError(err, { maxMessageBytes: limit });
        if (reply.responseCode === 451) {
          logUnexpected(deps, session, 'data', err);
          throw reply;
        }
        throw await refuse(deps, session, 'smtp.data.refused', reply, { from, to, code: (err as { code?: string }).code });
      }
    });
  } catch (err) {
    if (err instanceof SmtpReply) throw err;
    // The spool failed: the client hung up mid-DATA (nobody is left to answer) or the disk did.
    logUnexpected(deps, session, 'spool', err);
    throw replies.temporaryFailure();
  }
}
