/**
 * A relayed item refused by this gateway's rights matrix whose sender asked for a read receipt:
 * nothing is delivered or filed, the refusal is audited, and one `denied` receipt is recorded and
 * sent. RFC 8098 has no `denied` disposition type any more (RFC 3798 removed it, RFC 8098 kept
 * displayed/deleted/dispatched/processed): the item is discarded unfiled, so the receipt says
 * `deleted/error`, and its Error field starts with "denied by the shared-record rights matrix:" and
 * the matrix's reason (role and document type only: never a patient).
 */
import type { GatewayContext } from '../../context.js';
import { sendPendingReceipts } from './receipt-sender.js';

/**
 * A rights-matrix refusal the sender asked to be told by read receipt (RFC 8098): the message is
 * taken (250) but neither delivered nor filed, and a `denied` receipt goes back. Defined here (the
 * relay's checks produce it) so that filing needs nothing from smtp/.
 */
export interface RelayDenial {
  role: string;
  reason: string;
  originalMessageId: string;
  mdnTo: string;
}

export const DENIED_PREFIX = 'denied by the shared-record rights matrix: ';

export async function recordDenial(ctx: GatewayContext, o: { messageId: string; recipients: string[]; denial: RelayDenial }): Promise<void> {
  const now = new Date().toISOString();
  for (const recordServer of o.recipients) {
    await ctx.store.filing.insertReceipt({
      messageId: o.messageId, recordServer: recordServer.toLowerCase(), mdnTo: o.denial.mdnTo, originalMessageId: o.denial.originalMessageId || o.messageId,
      disposition: 'deleted/error', error: DENIED_PREFIX + o.denial.reason, createdAt: now, sentAt: null,
    });
  }
  await ctx.audit.record({
    actor: o.denial.mdnTo, action: 'smtp.relay.data.refused', outcome: 'refused', messageId: o.messageId,
    details: { code: 'rights-refused', role: o.denial.role, recipients: o.recipients, told: 'read-receipt' },
  });
  try {
    await sendPendingReceipts(ctx);
  } catch (err) {
    // Recorded: the periodic pass sends it.
    ctx.logger.error({ messageId: o.messageId, code: (err as { code?: string }).code ?? (err as Error).name }, 'denied read receipt not sent yet');
  }
}
