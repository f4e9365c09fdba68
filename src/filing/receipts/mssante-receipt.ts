/**
 * Sends an integration receipt to a keyless MSSanté mailbox (issue 28 item 4): the ANS-format MDN
 * (ans-mdn.ts) goes out as plain MIME over mutual TLS, the way every message to such a mailbox goes:
 * sealed to the gateway's transit key while it waits in the queue, opened only in memory by the
 * queue worker (src/smtp/mssante/outbound-send.ts), which checks `mssante.outbound` again.
 *
 * The envelope sender is null (RFC 8098 §3: no DSN about an MDN). The queue entry's id is derived
 * from the receipt's key, and so is the receipt's Message-ID: a pass that runs again after a crash
 * between the queue commit and `markReceiptSent` finds the entry there and does not queue it twice.
 */
import { createHash } from 'node:crypto';
import type { GatewayContext } from '../../context.js';
import type { DocumentType } from '../../message/classify/index.js';
import type { NewQueueItem, ReceiptRow } from '../../store/types.js';
import { sealForTransit, TRANSIT_ID_PREFIX } from '../../message/transit-seal.js';
import { ansErrorOf, buildAnsMdn, type AnsMdnInput } from './ans-mdn.js';
import { receiptMessageId } from './receipt-sender.js';

/** Head bytes enough for a sealed message's routing carrier (header blocks are bounded to 1 MiB). */
const HEAD_BYTES = 1024 * 1024 + 2;

/** A UUID-shaped id from the receipt's key: the same on every attempt. */
function queueIdOf(r: Pick<ReceiptRow, 'messageId' | 'recordServer'>): string {
  const h = createHash('sha256').update(`mssante-mdn\0${r.messageId}\0${r.recordServer}`).digest('hex');
  return `${TRANSIT_ID_PREFIX}${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * What the Subject may say of the item: the patient and document type of its routing header, which
 * the sender's own message gave. None when the item was not kept (a refusal: nothing to read).
 */
async function itemFacts(ctx: GatewayContext, r: ReceiptRow): Promise<Pick<AnsMdnInput, 'patient' | 'documentType'> & { sender?: string }> {
  const [doc] = await ctx.store.filing.documentsOfMessage(r.messageId);
  if (!doc) return {};
  const blob = await ctx.store.mail.openBlob(doc.blobId);
  if (!blob) return {};
  try {
    const { routing } = await (await ctx.sealer()).openRouting(await blob.head(Math.min(blob.size, HEAD_BYTES)));
    return { patient: routing.patient, documentType: routing.document.type as DocumentType, sender: routing.sender.address };
  } catch (err) {
    // The receipt still goes, naming no patient: a routing header that no longer opens must not hold it back for ever.
    ctx.logger.warn({ messageId: r.messageId, code: (err as { code?: string }).code ?? (err as Error).name }, 'integration receipt: the item\'s routing header does not open; the subject names no patient');
    return {};
  }
}

export async function sendMssanteReceipt(ctx: GatewayContext, r: ReceiptRow): Promise<void> {
  const error = ansErrorOf(r);
  const log = { messageId: r.messageId, recordServer: r.recordServer, to: r.mdnTo, disposition: r.disposition, ...(error ? { ansCode: error.code } : {}) };
  const facts = await itemFacts(ctx, r);
  const messageId = receiptMessageId(ctx.config.domain, r);
  const raw = await buildAnsMdn({
    reportingHost: ctx.config.hostname, recordServer: r.recordServer, to: r.mdnTo, originalMessageId: r.originalMessageId,
    originalSender: facts.sender ?? r.mdnTo, messageId, row: r, productReference: ctx.config.mssante.productReference,
    ...(facts.patient !== undefined ? { patient: facts.patient } : {}), ...(facts.documentType ? { documentType: facts.documentType } : {}),
  });
  const id = queueIdOf(r);
  let duplicate = false;
  if (await ctx.store.queue.get(id)) duplicate = true;
  else {
    const queue: NewQueueItem = {
      id, envelopeFrom: '', messageId,
      expiresAt: new Date(Date.now() + ctx.config.queue.maxLifetimeHours * 3600_000).toISOString(),
      ret: null, envid: null, recipients: [{ recipient: r.mdnTo, notify: ['NEVER'], orcpt: null }],
    };
    await ctx.localDelivery.deliver(await sealForTransit(ctx, raw), [], { queue });
  }
  await ctx.store.filing.markReceiptSent(r.messageId, r.recordServer, new Date().toISOString());
  await ctx.audit.record({
    actor: 'system', action: 'filing.receipt', outcome: 'ok', messageId: r.messageId,
    details: { ...log, receiptMessageId: messageId, delivery: 'mssante', format: 'ans', duplicate },
  });
  ctx.logger.info({ ...log, receiptMessageId: messageId, duplicate }, 'integration receipt queued for an MSSante mailbox');
}
