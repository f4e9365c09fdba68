/**
 * The delivery hook: when a committed message has local record-server recipients, open its routing
 * header with the gateway's filing key (never the content) and file it. Filing never undoes a
 * delivery: the message is already durably in the record server's INBOX, so a failure is logged and
 * audited, and filing the same message again later is harmless (idempotent per message and part).
 */
import type { GatewayContext } from '../context.js';
import { filingFor } from './context.js';
import type { IngestResult } from './filing-service.js';

export interface IngestOutcome {
  recordServers: string[];
  result?: IngestResult;
  error?: string;
}

/** Local record-server accounts among `recipients`. */
export async function localRecordServers(ctx: GatewayContext, recipients: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of recipients) {
    const a = r.trim().toLowerCase();
    if (!a.endsWith('@' + ctx.config.domain.toLowerCase())) continue;
    const account = await ctx.store.accounts.get(a);
    if (account?.kind === 'rmp') out.push(a);
  }
  return out;
}

export async function fileDelivered(ctx: GatewayContext, o: { sealed: Buffer; blobId: string; messageId: string; recipients: string[] }): Promise<IngestOutcome> {
  const recordServers = await localRecordServers(ctx, o.recipients);
  if (!recordServers.length) return { recordServers };
  try {
    const sealer = await ctx.sealer();
    const { routing, verification } = await sealer.openRouting(o.sealed);
    const filing = await filingFor(ctx);
    const result = await filing.ingest(routing, verification, o.blobId, o.messageId);
    await ctx.audit.record({
      actor: 'system', action: 'filing.ingest', outcome: 'ok', messageId: o.messageId,
      details: {
        recordServers, match: result.outcome, documents: result.documentIds.length, patientId: result.patientId,
        ...(result.reason ? { reconcileReason: result.reason } : {}),
      },
    });
    ctx.logger.info({ messageId: o.messageId, match: result.outcome, documents: result.documentIds.length }, 'filed for record server');
    return { recordServers, result };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason = typeof code === 'string' ? code : 'FILING_FAILED';
    ctx.logger.error({ messageId: o.messageId, code: reason }, 'filing for record server failed');
    await ctx.audit.record({ actor: 'system', action: 'filing.ingest', outcome: 'failed', messageId: o.messageId, details: { recordServers, code: reason } });
    return { recordServers, error: reason };
  }
}
