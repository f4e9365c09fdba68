import type { GatewayContext } from '../../context.js';
import type { QueueItem } from '../../store/types.js';
import { openTransit } from '../../message/transit-seal.js';

/**
 * The MSSanté copy of a queue item, opened for one delivery attempt: the clear MIME, in memory only,
 * handed to nodemailer (send-to-peer.ts: mutual TLS, the peer's chain, CRLs and domain checked).
 * A refusal instead when it must not go: the policy was turned to `deny` since it was queued, or the
 * stored copy does not open under the transit key's signature.
 */
export async function openForSending(ctx: GatewayContext, item: QueueItem, sealed: Buffer): Promise<Buffer | { refused: string }> {
  if (ctx.config.mssante.outbound !== 'allow') {
    return { refused: '554 5.7.1 not sent: mssante.outbound is now deny on this gateway (transport-only protection refused)' };
  }
  try {
    return await openTransit(ctx, sealed);
  } catch (err) {
    ctx.logger.error({ queueId: item.id, messageId: item.messageId, code: (err as { code?: string }).code ?? (err as Error).name }, 'mssante: the stored copy does not open');
    return { refused: '554 5.3.0 the stored MSSante copy does not open with this gateway\'s transit key' };
  }
}
