/**
 * Filing what a local record server receives: its routing header opened with the gateway's filing
 * key (never the content) before the delivery commits (prepareFiling), then the decision and its
 * rows in the delivery's own transaction (LocalDelivery.deliverWith, src/smtp/delivery.ts), for a
 * message in memory and a large one (a sealed file, read by its header block) alike. Filing never refuses a delivery: a
 * failure is logged and audited, and filing the same message again later is harmless (idempotent
 * per message and part).
 */
import type { GatewayContext } from '../context.js';
import { filingFor, rightsConfigOf } from './context.js';
import { judgeDocuments, type DocumentAuthor } from './authors.js';
import { documentsOfRouting } from './filing-service.js';
import type { RoutingHeader, Verification } from '../crypto/seal/index.js';
import type { FilingItem, FilingService, IngestResult, ReceiptRequest } from './filing-service.js';
import { sendPendingReceipts } from './receipts/receipt-sender.js';

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

/**
 * The read receipts an item asks for (RFC 8098 `Disposition-Notification-To`, carried as `mdnTo` in
 * the routing header), one per record-server recipient. Sent automatically only when the routing
 * header verified and the address is its signer's — the envelope sender (RFC 8098 §2.1: a receipt
 * to another address needs a person's consent, which a gateway cannot give).
 */
export async function receiptsAsked(ctx: GatewayContext, routing: RoutingHeader, verification: Verification, messageId: string, recordServers: string[]): Promise<ReceiptRequest[]> {
  if (!routing.mdnTo) return [];
  const mdnTo = routing.mdnTo.toLowerCase();
  if (!verification.valid || mdnTo !== routing.sender.address.toLowerCase()) {
    await ctx.audit.record({ actor: 'system', action: 'filing.receipt', outcome: 'refused', messageId, details: { recordServers, reason: verification.valid ? 'address-not-sender' : 'not-verified' } });
    return [];
  }
  return recordServers.map((recordServer) => ({ recordServer, mdnTo, originalMessageId: routing.messageId || messageId }));
}

/**
 * A delivery's filing made ready before its commit: everything that is not a store write (the
 * routing header opened with the filing key, the receipts asked, the authors judged), so that the
 * decision and its rows can run in the delivery's own transaction (LocalDelivery.deliverWith).
 */
export interface PreparedFiling {
  recordServers: string[];
  messageId: string;
  receipts: ReceiptRequest[];
  item: FilingItem;
  service: FilingService;
}

/** Why a delivery to a record server could not be filed (before or during its decision). */
export interface FilingFailure { recordServers: string[]; messageId: string; receipts: ReceiptRequest[]; error: unknown }

/**
 * Undefined when no record server is among `recipients`; a FilingFailure when the item cannot be
 * filed (its routing header does not open, say): the message is delivered all the same.
 */
export async function prepareFiling(ctx: GatewayContext, o: { sealed: Buffer; blobId: string; messageId: string; recipients: string[] }): Promise<PreparedFiling | FilingFailure | undefined> {
  const recordServers = await localRecordServers(ctx, o.recipients);
  if (!recordServers.length) return undefined;
  let receipts: ReceiptRequest[] = [];
  try {
    const sealer = await ctx.sealer();
    const { routing, verification } = await sealer.openRouting(o.sealed);
    receipts = await receiptsAsked(ctx, routing, verification, o.messageId, recordServers);
    const service = await filingFor(ctx);
    const authors = await authorsOf(ctx, routing);
    return { recordServers, messageId: o.messageId, receipts, service, item: service.itemOf(routing, verification, o.blobId, o.messageId, receipts, authors) };
  } catch (error) {
    return { recordServers, messageId: o.messageId, receipts, error };
  }
}

/** After the filing rows committed: audited, logged, the receipts owed sent. */
export async function filingDone(ctx: GatewayContext, p: PreparedFiling, result: IngestResult): Promise<IngestOutcome> {
  await ctx.audit.record({
    actor: 'system', action: 'filing.ingest', outcome: 'ok', messageId: p.messageId,
    details: {
      recordServers: p.recordServers, match: result.outcome, documents: result.documentIds.length, patientId: result.patientId,
      ...(result.reason ? { reconcileReason: result.reason } : {}), ...(p.receipts.length ? { receipts: p.receipts.length } : {}),
    },
  });
  ctx.logger.info({ messageId: p.messageId, match: result.outcome, documents: result.documentIds.length }, 'filed for record server');
  if (p.receipts.length) await sendPendingReceipts(ctx);
  return { recordServers: p.recordServers, result };
}

/** Delivered, not filed: logged and audited by code, and the sender who asked told (`processed/error`). */
export async function filingFailed(ctx: GatewayContext, f: FilingFailure): Promise<IngestOutcome> {
  const code = (f.error as { code?: unknown }).code;
  const reason = typeof code === 'string' ? code : 'FILING_FAILED';
  ctx.logger.error({ messageId: f.messageId, code: reason }, 'filing for record server failed');
  await ctx.audit.record({ actor: 'system', action: 'filing.ingest', outcome: 'failed', messageId: f.messageId, details: { recordServers: f.recordServers, code: reason } });
  await receiptsForFailure(ctx, f.messageId, f.receipts, reason);
  return { recordServers: f.recordServers, error: reason };
}

/**
 * Each part's author, judged against this gateway's directory and configuration as the submission
 * and relay checks judged it (src/filing/authors.ts): what is filed under whom, and what is marked
 * "transmitted, author not verified".
 */
export async function authorsOf(ctx: GatewayContext, routing: RoutingHeader): Promise<Map<string, DocumentAuthor>> {
  const listed = routing.documents?.length ? routing.documents : documentsOfRouting(routing).map((d) => ({ part: d.part, type: d.type }));
  const s = routing.sender;
  const sender = (await ctx.directory.lookup(s.address.toLowerCase())) ?? {
    address: s.address.toLowerCase(), mailboxType: 'PER' as const, professionCode: s.professionCode ?? null, specialtyCode: s.specialtyCode ?? null, specialtyLabel: null,
  };
  const judged = await judgeDocuments(sender, listed, ctx.directory, rightsConfigOf(ctx));
  return new Map(judged.map((j) => [j.part, j.author]));
}

/** The item is delivered but could not be filed: the sender who asked is told (`processed/error`, the code only). */
async function receiptsForFailure(ctx: GatewayContext, messageId: string, receipts: ReceiptRequest[], code: string): Promise<void> {
  if (!receipts.length) return;
  try {
    const now = new Date().toISOString();
    for (const r of receipts) {
      await ctx.store.filing.insertReceipt({
        messageId, recordServer: r.recordServer, mdnTo: r.mdnTo, originalMessageId: r.originalMessageId, disposition: 'processed/error',
        error: `the record server's gateway could not file the item (${code}); it stays delivered to the record server`, createdAt: now, sentAt: null,
      });
    }
    await sendPendingReceipts(ctx);
  } catch (err) {
    ctx.logger.error({ messageId, code: (err as { code?: string }).code ?? (err as Error).name }, 'read receipt of a failed filing not recorded');
  }
}
