import path from 'node:path';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { firstRefusal, judgeDocuments, rightsConfigOf } from '../../filing/index.js';
import type { DirectoryEntry } from '../../store/types.js';
import type { AcceptedRecipient, DsnRequest, SealedFacts } from '../delivery.js';
import { isSmtpReply, replies, replyForError, SmtpReply } from '../replies.js';
import { logUnexpected, refuse, type SubmissionDeps } from './deps.js';
import { checkFromHeader, HEADER_MAX } from './sender-check.js';
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
 * What a record server needs before anything is committed: a named patient, and documents whose
 * AUTHORS may put them into a shared record (src/filing/authors.ts: the sender for what he wrote, a
 * verified lab or XDM author for theirs; a transmitted document whose author is not verified is
 * filed marked, not refused). Judged on what sealing found (the message is parsed once, in the
 * worker that seals it); a refusal discards the sealed message.
 */
async function recordServerCheck(facts: SealedFacts, sender: DirectoryEntry, ctx: SubmissionDeps['ctx']): Promise<SmtpReply | undefined> {
  if (!facts.patient) return replies.patientRequired();
  const docs = facts.documents.length ? facts.documents : [{ part: 'body', type: facts.documentType }];
  const config = rightsConfigOf(ctx);
  const decision = firstRefusal(sender, await judgeDocuments(sender, docs, ctx.directory, config), config);
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
      const fromRule = await checkFromHeader(deps, session, await spooled.head(HEADER_MAX), { from, to, size: spooled.size });
      if (fromRule.addSender) await spooled.prepend(Buffer.from(`Sender: <${fromRule.addSender}>\r\n`, 'latin1'));
      try {
        const toRecordServer = accepted.some((r) => r.recordServer);
        const result = await deps.delivery.acceptSubmission({
          // Up to 1 MiB the message is sealed in memory; beyond, file to file in bounded memory.
          source: spooled.inMemory ? { raw: await spooled.read() } : { file: spooled.file },
          check: async (facts) => {
            const refusal = toRecordServer ? await recordServerCheck(facts, senderEntry, ctx) : undefined;
            if (refusal) throw await refuse(deps, session, 'smtp.data.refused', refusal, { from, to });
          },
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
