import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { splitHeaderBlock } from '../../crypto/seal/header-block.js';
import { addressesOf } from '../../crypto/seal/header-values.js';
import { MedgateError } from '../../errors.js';
import { replies, replyForError, type SenderRefusalReason, type SmtpReply } from '../replies.js';
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

/** A header field line: a field name (printable ASCII but colon, RFC 5322 §2.2), then a colon. */
const FIELD_LINE = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;

/**
 * Whether `header` (splitHeaderBlock's header) is an RFC 5322 header section: every line a field or
 * the fold of the one above. Random bytes, a body without headers or an mbox "From " line fail.
 */
function isHeaderSection(header: Buffer): boolean {
  if (!header.length) return false;
  const lines = header.toString('latin1').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.every((line, i) => FIELD_LINE.test(line) || (i > 0 && (line[0] === ' ' || line[0] === '\t')));
}

/** The header section of a submitted message, as far as the From rules need it. */
export interface FromDecision {
  /** `Sender: <account>` to put above the message: an application account signing for one of its doctors. */
  addSender?: string;
}

/**
 * End of DATA, before sealing: the message must be a message (a header section), name exactly one
 * From address, and that address must be the account's own — or, for an application account, one
 * of the doctors configured for it (`submission.signFor`). A recipient's client checks the seal's
 * signature against the From (or the Sender), so anything else could never be read, or would be
 * spoofing. Throws the refusal (audited); returns what to add to the message.
 */
export async function checkFromHeader(deps: SubmissionDeps, session: SMTPServerSession, head: Buffer, details: Record<string, unknown>): Promise<FromDecision> {
  const identity = stateOf(session).identity;
  if (!identity) throw replies.authRequired();
  const account = identity.address;
  const { header, separator } = splitHeaderBlock(head);
  // Without a blank line the whole message is header: fine when short (headers only), not when the
  // head read was cut at its limit.
  if (!isHeaderSection(header) || (!separator.length && head.length >= HEADER_MAX)) {
    throw await refuse(deps, session, 'smtp.data.refused', replies.notAMessage(), details);
  }
  // An address field longer than medgate reads (MESSAGE_ADDRESS_FIELD_TOO_LONG) is the message's fault: 554, audited.
  const addresses = async (field: string): Promise<string[]> => {
    try {
      return addressesOf(header, field).map((a) => a.trim().toLowerCase());
    } catch (err) {
      if (!(err instanceof MedgateError)) throw err;
      throw await refuse(deps, session, 'smtp.data.refused', replyForError(err), { ...details, code: err.code });
    }
  };
  const from = await addresses('from');
  if (!from.length) throw await refuse(deps, session, 'smtp.data.refused', replies.fromMissing(account), details);
  if (from.length > 1) throw await refuse(deps, session, 'smtp.data.refused', replies.fromMultiple(account), { ...details, fromCount: from.length });
  const author = from[0]!;
  const sender = (await addresses('sender'))[0];
  if (sender !== undefined && sender !== account) {
    throw await refuse(deps, session, 'smtp.data.refused', replies.senderFieldNotOwned(sender, account), { ...details, senderField: sender });
  }
  if (author === account) return {};
  const delegates = identity.kind === 'application' ? deps.ctx.config.submission.signFor[account] ?? [] : [];
  if (!delegates.includes(author)) {
    throw await refuse(deps, session, 'smtp.data.refused', replies.fromNotOwned(author, account, identity.kind === 'application'), { ...details, fromField: author });
  }
  return sender === account ? {} : { addSender: account };
}

/** How much of a message's head the From rules read: header sections are bounded to 1 MiB at submission. */
export const HEADER_MAX = 1024 * 1024 + 2;
