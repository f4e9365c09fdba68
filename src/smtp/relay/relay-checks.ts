import type { GatewayContext } from '../../context.js';
import { isMedgateError } from '../../errors.js';
import { firstRefusal, judgeDocuments, rightsConfigOf, type RelayDenial } from '../../filing/index.js';
import type { RoutingInput } from '../../crypto/seal/index.js';
import { certificateCovers } from './peer-certificate.js';
import { replies } from '../replies.js';

export type { RelayDenial };

const FORMAT_FIELD = 'x-medgate-format';

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * MAIL FROM on the relay: the sender's domain must be whitelisted, be the domain the peer's
 * certificate was issued for, and the sender must be an active entry of the health directory.
 */
export async function checkSender(ctx: GatewayContext, certNames: string[], from: string): Promise<void> {
  if (!from) throw replies.relayNullSender();
  const domain = domainOf(from);
  if (domain === ctx.config.domain) throw replies.relayOwnDomain(domain);
  if (!(await ctx.directory.isDomainAllowed(domain))) throw replies.relayDomainNotWhitelisted(domain);
  if (!certificateCovers(certNames, domain)) throw replies.relayDomainNotCertified(domain);
  const status = await ctx.directory.senderStatus(from);
  if (!status.ok) throw replies.relaySenderNotActive(from);
}

/** RCPT TO on the relay: only this gateway's own, enabled mailboxes. */
export async function checkRecipient(ctx: GatewayContext, to: string): Promise<void> {
  if (domainOf(to) !== ctx.config.domain) throw replies.relayRecipientNotLocal(to);
  const account = await ctx.store.accounts.get(to);
  if (!account || account.disabled) throw replies.relayRecipientNotLocal(to);
}

/**
 * End of DATA: only medgate/1 messages with a routing header this gateway can open with its filing
 * key, signed by a directory key of the envelope sender and addressed to the envelope recipients.
 * The content itself is never opened here.
 */
export async function checkSealedMessage(ctx: GatewayContext, sealed: Buffer, from: string, recipients: string[]): Promise<{ messageId: string; denied?: RelayDenial }> {
  const sealer = await ctx.sealer();
  let visible: ReturnType<typeof sealer.inspect>;
  try {
    visible = sealer.inspect(sealed);
  } catch {
    throw replies.relayNotSealed();
  }
  const header = (name: string): string | undefined => visible.outerHeaders.find(([k]) => k.toLowerCase() === name)?.[1];
  if (!visible.routingCarrierPresent || !/^medgate\/1\b/i.test(header(FORMAT_FIELD) ?? '')) throw replies.relayNotSealed();
  const messageId = header('message-id');
  if (!messageId) throw replies.relayNotSealed();
  let opened: Awaited<ReturnType<typeof sealer.openRouting>>;
  try {
    opened = await sealer.openRouting(sealed);
  } catch (err) {
    if (isMedgateError(err)) throw replies.relayRoutingRefused(err.code);
    throw err;
  }
  if (opened.verification.signer.toLowerCase() !== from) throw replies.relayRoutingRefused('SIGNER_NOT_ENVELOPE_SENDER');
  const addressed = new Set(opened.routing.recipients.map((r) => r.toLowerCase()));
  if (recipients.some((r) => !addressed.has(r))) throw replies.relayRoutingRefused('RECIPIENT_NOT_ADDRESSED');
  const denied = await checkRecordServerRules(ctx, opened.routing, from, recipients);
  return denied ? { messageId, denied } : { messageId };
}

/**
 * This gateway's own record-server rules, from the verified routing header: a named patient, and a
 * sender role allowed the document types by this gateway's rights matrix (`filing.rights`, with its
 * own `filing.senders` roles for remote applications). The sending gateway checked its rules; the
 * record server's gateway does not take its word for it.
 */
export async function checkRecordServerRules(ctx: GatewayContext, routing: RoutingInput, from: string, recipients: string[]): Promise<RelayDenial | undefined> {
  let toRecordServer = false;
  let onlyRecordServers = true;
  for (const r of recipients) {
    if (await ctx.directory.isRecordServer(r)) toRecordServer = true;
    else onlyRecordServers = false;
  }
  if (!toRecordServer) return undefined;
  if (!routing.patient) throw replies.patientRequired();
  const sender = await ctx.directory.lookup(from);
  if (!sender) throw replies.relaySenderNotActive(from);
  const docs = routing.documents?.length ? routing.documents : [{ part: 'body', type: routing.document.type }];
  const config = rightsConfigOf(ctx);
  // The authors are judged against this gateway's own directory and configuration (src/filing/authors.ts).
  const decision = firstRefusal(sender, await judgeDocuments(sender, docs, ctx.directory, config), config);
  if (decision.ok) return undefined;
  // Asked for a receipt by the (verified) sender himself, to record servers only: told by a `denied`
  // receipt. Otherwise, and for a mixed recipient list, the refusal is the SMTP reply.
  if (routing.mdnTo?.toLowerCase() === from && onlyRecordServers) {
    return { role: decision.role, reason: decision.reason, originalMessageId: routing.messageId, mdnTo: from };
  }
  throw replies.rightsRefused(decision.role, decision.reason);
}
