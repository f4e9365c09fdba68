/**
 * Sends the read receipts (MDN) recorded in `filing_receipts`: sealed like every medgate message
 * (signed by the postmaster key, encrypted to the sender, routing header without patient), into the
 * sender's INBOX when local, through the outbound queue when on a peer gateway.
 *
 * Exactly once per item and record server: the receipt is recorded with the filing (one
 * transaction) and marked sent after its commit. A crash in between sends it again on the next pass
 * (at start-up, after the next filing, or every minute), and that second copy is the same message
 * for everyone who stores it: delivery key `mdn:<item>:<record server>` in a local INBOX, and a
 * fixed outer Message-ID, which the receiving gateway's relay de-duplicates on.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { GatewayContext } from '../../context.js';
import { ensureFilingKey } from '../../crypto/gateway-keys.js';
import { seal } from '../../crypto/seal/index.js';
import { ensurePostmaster } from '../../mailbox/postmaster.js';
import type { NewQueueItem, ReceiptRow } from '../../store/types.js';
import { buildMdn } from './build-mdn.js';
import { sendMssanteReceipt } from './mssante-receipt.js';

/** The outer Message-ID of an item's receipt: the same on every attempt. */
export function receiptMessageId(domain: string, r: Pick<ReceiptRow, 'messageId' | 'recordServer'>): string {
  const h = createHash('sha256').update(`mdn\0${r.messageId}\0${r.recordServer}`).digest('hex').slice(0, 32);
  return `<mdn.${h}@${domain}>`;
}

export function receiptDeliveryKey(r: Pick<ReceiptRow, 'messageId' | 'recordServer'>): string {
  return `mdn:${r.messageId}:${r.recordServer}`;
}

const passes = new WeakMap<GatewayContext, Promise<number>>();

/** Sends every pending receipt; passes do not overlap. Returns how many were handled. */
export function sendPendingReceipts(ctx: GatewayContext): Promise<number> {
  const previous = passes.get(ctx) ?? Promise.resolve(0);
  const next = previous.catch(() => 0).then(() => onePass(ctx));
  passes.set(ctx, next);
  return next;
}

async function onePass(ctx: GatewayContext): Promise<number> {
  let handled = 0;
  for (const r of await ctx.store.filing.pendingReceipts(100)) {
    try {
      await sendReceipt(ctx, r);
      handled++;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      ctx.logger.error({ messageId: r.messageId, recordServer: r.recordServer, code: typeof code === 'string' ? code : (err as Error).name }, 'read receipt not sent; retried on the next pass');
    }
  }
  return handled;
}

/** Seals and delivers one receipt, then marks it sent. A receipt that cannot be addressed is closed with an audit record. */
export async function sendReceipt(ctx: GatewayContext, r: ReceiptRow): Promise<void> {
  const log = { messageId: r.messageId, recordServer: r.recordServer, to: r.mdnTo, disposition: r.disposition };
  const sealer = await ctx.sealer();
  const resolved = await sealer.resolveRecipient(r.mdnTo);
  if (!resolved.ok && resolved.reason === 'no-key') {
    // A keyless MSSanté mailbox (a lab's, a hospital's): the ANS integration receipt, plain MIME over
    // mutual TLS like every message to it, when `mssante.outbound` allows (src/filing/receipts/mssante-receipt.ts).
    const target = await sealer.resolveSubmissionRecipient(r.mdnTo);
    if (target.ok && target.format === 'mssante') return sendMssanteReceipt(ctx, r);
    if (!target.ok) return closeUnsendable(ctx, r, target.reason);
  }
  if (!resolved.ok || !resolved.filingKey) {
    await ctx.store.filing.markReceiptSent(r.messageId, r.recordServer, new Date().toISOString());
    await ctx.audit.record({ actor: 'system', action: 'filing.receipt', outcome: 'failed', messageId: r.messageId, details: { ...log, reason: resolved.ok ? 'no-filing-key' : resolved.reason } });
    ctx.logger.warn({ ...log, reason: resolved.ok ? 'no-filing-key' : resolved.reason }, 'read receipt not sent: the sender cannot be reached');
    return;
  }
  const postmaster = await ensurePostmaster(ctx);
  const raw = await buildMdn({
    reportingHost: ctx.config.hostname, from: postmaster.address, to: r.mdnTo, recordServer: r.recordServer,
    originalMessageId: r.originalMessageId, disposition: r.disposition, error: r.error,
  });
  const outerMessageId = receiptMessageId(ctx.config.domain, r);
  const filing = await ensureFilingKey(ctx.config.keysDir ?? ctx.config.dataDir, ctx.config.domain);
  const sealed = await seal({
    raw,
    routing: {
      messageId: outerMessageId,
      patient: null,
      document: { type: 'other', date: new Date().toISOString().slice(0, 10), title: 'Read receipt' },
      sender: { address: postmaster.address, nationalId: null, professionCode: null, professionLabel: null, specialtyCode: null, role: null },
      recipients: [r.mdnTo],
    },
    signingKey: postmaster.key,
    recipientKeys: [resolved.publicKey],
    filingKeys: resolved.local ? [filing.privateKey.toPublic()] : [resolved.filingKey],
    envelope: { from: postmaster.address, to: [r.mdnTo] },
    outerMessageId,
  });
  let duplicate = false;
  if (resolved.local) {
    const res = await ctx.localDelivery.deliver(sealed.sealed, [{ owner: r.mdnTo, mailbox: 'INBOX', deliveryKey: receiptDeliveryKey(r) }]);
    duplicate = res.placed.every((p) => p.duplicate);
  } else {
    // No report about a report (RFC 3461 NOTIFY=NEVER): a receipt that cannot be delivered is dropped.
    const queue: NewQueueItem = {
      id: randomUUID(), envelopeFrom: postmaster.address, messageId: outerMessageId,
      expiresAt: new Date(Date.now() + ctx.config.queue.maxLifetimeHours * 3600_000).toISOString(),
      ret: null, envid: null, recipients: [{ recipient: r.mdnTo, notify: ['NEVER'], orcpt: null }],
    };
    await ctx.localDelivery.deliver(sealed.sealed, [], { queue });
  }
  await ctx.store.filing.markReceiptSent(r.messageId, r.recordServer, new Date().toISOString());
  await ctx.audit.record({
    actor: 'system', action: 'filing.receipt', outcome: 'ok', messageId: r.messageId,
    details: { ...log, receiptMessageId: outerMessageId, delivery: resolved.local ? 'local' : 'queued', duplicate },
  });
  ctx.logger.info({ ...log, receiptMessageId: outerMessageId, duplicate }, 'read receipt sent');
}

/** A receipt nobody can be sent: closed (marked sent) with an audit record saying why. */
export async function closeUnsendable(ctx: GatewayContext, r: ReceiptRow, reason: string): Promise<void> {
  const log = { messageId: r.messageId, recordServer: r.recordServer, to: r.mdnTo, disposition: r.disposition };
  await ctx.store.filing.markReceiptSent(r.messageId, r.recordServer, new Date().toISOString());
  await ctx.audit.record({ actor: 'system', action: 'filing.receipt', outcome: 'failed', messageId: r.messageId, details: { ...log, reason } });
  ctx.logger.warn({ ...log, reason }, 'read receipt not sent: the sender cannot be reached');
}

/** Start-up and periodic pass (a receipt recorded just before a crash is sent after the restart). */
export function startReceiptSender(ctx: GatewayContext, everyMs = 60_000): { close(): Promise<void> } {
  let running: Promise<unknown> = sendPendingReceipts(ctx).catch(() => 0);
  const timer = setInterval(() => { running = sendPendingReceipts(ctx).catch(() => 0); }, everyMs);
  timer.unref();
  return { async close() { clearInterval(timer); await running; } };
}
