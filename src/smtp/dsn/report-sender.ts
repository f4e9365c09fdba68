import type * as openpgp from 'openpgp';
import type { GatewayContext } from '../../context.js';
import { ensureFilingKey } from '../../crypto/gateway-keys.js';
import { readPublicKey } from '../../crypto/keys.js';
import { seal } from '../../crypto/seal/index.js';
import type { QueueItem } from '../../store/types.js';
import { buildDeliveryReport, statusOf } from './build-report.js';
import { ensurePostmaster } from '../../mailbox/postmaster.js';
import type { ReportAction } from './report-texts.js';

export interface ReportEvent {
  recipient: string;
  action: ReportAction;
  diagnostic: string | null;
  lastAttempt: Date | null;
  /** For `delayed`: until when the gateway keeps trying. */
  willRetryUntil?: Date | null;
  /** For `failed`: the lifetime ran out (status 4.4.7 unless the peer said better). */
  expired?: boolean;
}

/**
 * Sends delivery reports (DSN) to local senders: builds the RFC 3464 report, seals it like any
 * medgate message (signed by the postmaster key, encrypted to the sender, routing header with no
 * patient) and commits it into the sender's INBOX. The delivery key makes it idempotent: the
 * worker may report again after a crash, the sender still gets one report per recipient and event.
 */
export class DeliveryReporter {
  private postmaster: Promise<{ address: string; key: openpgp.PrivateKey }> | undefined;

  constructor(private readonly ctx: GatewayContext) {}

  init(): Promise<{ address: string; key: openpgp.PrivateKey }> {
    return (this.postmaster ??= ensurePostmaster(this.ctx));
  }

  /** Returns false when no report could be addressed (sender not local or without a key). */
  async report(item: QueueItem, event: ReportEvent, sealedOriginal: Buffer | undefined): Promise<boolean> {
    const { ctx } = this;
    const sender = item.envelopeFrom.toLowerCase();
    const log = { queueId: item.id, messageId: item.messageId, recipient: event.recipient, action: event.action };
    if (!sender || !sender.endsWith(`@${ctx.config.domain}`)) {
      ctx.logger.warn(log, 'delivery report not sent: the sender is not a local mailbox');
      return false;
    }
    const entry = await ctx.directory.lookup(sender);
    if (!entry?.pgpPublicKey) {
      ctx.logger.warn(log, 'delivery report not sent: the sender has no key in the directory');
      return false;
    }
    const postmaster = await this.init();
    const orcpt = item.recipients.find((r) => r.recipient === event.recipient)?.orcpt ?? null;
    const report = await buildDeliveryReport({
      reportingMta: ctx.config.hostname, domain: ctx.config.domain, to: sender, originalMessageId: item.messageId,
      queuedAt: new Date(item.createdAt), envid: item.envid, ret: item.ret, sealedOriginal,
      line: { recipient: event.recipient, action: event.action, diagnostic: event.diagnostic, orcpt, lastAttempt: event.lastAttempt, willRetryUntil: event.willRetryUntil ?? null },
    }, event.expired ?? false);
    const filing = await ensureFilingKey(ctx.config.keysDir ?? ctx.config.dataDir, ctx.config.domain);
    const sealed = await seal({
      raw: report,
      routing: {
        messageId: '',
        patient: null,
        document: { type: 'other', date: new Date().toISOString().slice(0, 10), title: 'Delivery report' },
        sender: { address: postmaster.address, nationalId: null, professionCode: null, professionLabel: null, specialtyCode: null, role: null },
        recipients: [sender],
      },
      signingKey: postmaster.key,
      recipientKeys: [await readPublicKey(entry.pgpPublicKey)],
      filingKeys: [filing.privateKey.toPublic()],
      envelope: { from: postmaster.address, to: [sender] },
    });
    // Through the one local delivery path: the bounce raises EXISTS in the sender's sessions on every node.
    const res = await ctx.localDelivery.deliver(sealed.sealed, [{ owner: sender, mailbox: 'INBOX', deliveryKey: `dsn:${item.id}:${event.recipient}:${event.action}` }]);
    const duplicate = res.placed.every((p) => p.duplicate);
    await ctx.audit.record({
      actor: 'system', action: 'message.dsn', outcome: 'ok', messageId: item.messageId,
      details: { ...log, status: statusOf(event, event.expired ?? false), reportMessageId: sealed.messageId, duplicate },
    });
    ctx.logger.info({ ...log, reportMessageId: sealed.messageId, duplicate }, 'delivery report placed in the sender\'s INBOX');
    return true;
  }
}
