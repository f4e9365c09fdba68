import type { GatewayContext } from '../../context.js';
import type { GatewayTls } from '../../pki/index.js';
import type { QueueItem, QueueRecipient } from '../../store/types.js';
import { DeliveryReporter, type ReportEvent } from '../dsn/report-sender.js';
import { routeFor } from './peer-route.js';
import { nextAttemptAt, shouldNotify } from './retry-policy.js';
import { closePeerConnections, sendToPeer, type RecipientOutcome } from './send-to-peer.js';
import { isTransitItem } from '../../message/transit-seal.js';
import { openForSending } from '../mssante/outbound-send.js';
import { mssanteRouteFor } from '../mssante/route.js';

/** Above this size a sealed message is streamed to peers and returned in reports as its header only. */
const FULL_RETURN_MAX_BYTES = 1024 * 1024;

export interface QueueWorker {
  /** One pass over the due items (tests and `close` use it; the timer calls it every pollMs). */
  runOnce(): Promise<void>;
  close(): Promise<void>;
}

const BATCH = 50;
const PARALLEL_ITEMS = 8;

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * The outbound queue: every `queue.pollMs`, delivers due recipients to their domain's gateway.
 *
 * Per recipient: 250 → delivered; 5xx, or a domain DNS says has no mail route (NXDOMAIN, null MX,
 * neither MX nor address: peer-route.ts) → failed and a non-delivery report; 4xx, a DNS failure, no
 * TLS or a peer certificate that does not verify → retried with exponential backoff, a delay notice
 * once after `delayNoticeAfterMinutes`, and failed with a report after `maxLifetimeHours`.
 *
 * Crash safety: the status is written after the peer's 250, so a crash in between re-sends the
 * message; the peer places relayed mail with the key (sealed Message-ID, recipient), so the
 * mailbox still holds it once. Reports are committed before the status they announce, with a
 * delivery key, for the same reason.
 */
export async function startQueueWorker(ctx: GatewayContext, opts: { tls: GatewayTls }): Promise<QueueWorker> {
  const { config, logger } = ctx;
  const reporter = new DeliveryReporter(ctx);
  // Items this node is working. The store's lease keeps other nodes off them (renewed while the
  // delivery lasts); the set keeps two passes of this node off the same item.
  const inFlight = new Set<string>();
  const leaseMs = config.queue.leaseSeconds * 1000;
  const renewal = setInterval(() => {
    if (!inFlight.size) return;
    ctx.store.queue.renew([...inFlight], ctx.nodeId, leaseMs)
      .catch((err: unknown) => logger.warn({ code: (err as { code?: string }).code ?? (err as Error).name }, 'queue: lease renewal failed'));
  }, Math.max(250, leaseMs / 3));
  renewal.unref();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let pass: Promise<void> | undefined;

  // The report carries the sealed original (RET=FULL) or its header: nothing medical either way.
  // A large original goes back as its header block only (RFC 3461 RET=HDRS), so a report never
  // holds a large message in memory.
  const report = async (item: QueueItem, event: ReportEvent): Promise<void> => {
    const blob = await ctx.store.mail.openBlob(item.blobId);
    // An MSSanté copy is sealed to the gateway's transit key: the sender could not open it.
    if (blob && (blob.size > FULL_RETURN_MAX_BYTES || isTransitItem(item))) {
      await reporter.report({ ...item, ret: 'HDRS' }, event, await blob.head(FULL_RETURN_MAX_BYTES));
      return;
    }
    await reporter.report(item, event, blob ? await blob.head(blob.size) : undefined);
  };

  const settle = async (item: QueueItem, r: QueueRecipient, outcome: RecipientOutcome, now: Date): Promise<void> => {
    // The audit says how an MSSanté copy travelled: in clear inside mutual TLS, not sealed.
    const base = { queueId: item.id, messageId: item.messageId, recipient: r.recipient, ...(isTransitItem(item) ? { transport: 'mssante-mtls' } : {}) };
    const attempts = r.attempts + 1;
    if (outcome.kind === 'delivered') {
      if (shouldNotify(r, 'success')) await report(item, { recipient: r.recipient, action: 'delivered', diagnostic: outcome.response, lastAttempt: now });
      await ctx.store.queue.updateRecipient(item.id, r.recipient, { status: 'delivered', attempts, lastError: null, updatedAt: now.toISOString() });
      await ctx.audit.record({ actor: 'system', action: 'queue.delivered', outcome: 'ok', messageId: item.messageId, details: { ...base, attempts } });
      logger.info({ ...base, attempts }, 'queue: delivered');
      return;
    }
    const expired = now >= new Date(item.expiresAt);
    if (outcome.kind === 'permanent' || expired) {
      if (shouldNotify(r, 'failure')) {
        await report(item, { recipient: r.recipient, action: 'failed', diagnostic: outcome.response, lastAttempt: now, expired: outcome.kind !== 'permanent' });
      }
      await ctx.store.queue.updateRecipient(item.id, r.recipient, { status: 'failed', attempts, lastError: outcome.response, updatedAt: now.toISOString() });
      await ctx.audit.record({
        actor: 'system', action: 'queue.failed', outcome: 'failed', messageId: item.messageId,
        details: { ...base, attempts, reason: outcome.kind === 'permanent' ? outcome.reason ?? 'refused by peer' : 'lifetime exceeded', diagnostic: outcome.response },
      });
      logger.warn({ ...base, attempts, diagnostic: outcome.response, expired }, 'queue: failed permanently');
      return;
    }
    let delayNotified = r.delayNotified;
    const late = now.getTime() - new Date(item.createdAt).getTime() >= config.queue.delayNoticeAfterMinutes * 60_000;
    if (late && !delayNotified) {
      if (shouldNotify(r, 'delay')) {
        await report(item, { recipient: r.recipient, action: 'delayed', diagnostic: outcome.response, lastAttempt: now, willRetryUntil: new Date(item.expiresAt) });
      }
      delayNotified = true;
    }
    const next = nextAttemptAt(config.queue, attempts, new Date(item.expiresAt), now);
    await ctx.store.queue.updateRecipient(item.id, r.recipient, {
      attempts, nextAttemptAt: next.toISOString(), lastError: outcome.response, delayNotified, updatedAt: now.toISOString(),
    });
    logger.info({ ...base, attempts, next: next.toISOString(), diagnostic: outcome.response }, 'queue: will retry');
  };

  const deliverItem = async (item: QueueItem): Promise<void> => {
    const now = new Date();
    const due = item.recipients.filter((r) => r.status === 'pending' && new Date(r.nextAttemptAt) <= now);
    if (!due.length) return;
    const blob = await ctx.store.mail.openBlob(item.blobId);
    // A small message is read whole from the handle (on PostgreSQL, in the round trip that opened it).
    // An MSSanté copy (issue 28) is opened here, in memory, and goes out as plain MIME over mutual TLS.
    const transit = isTransitItem(item);
    const sealed = blob && (transit ? await openForSending(ctx, item, await blob.head(blob.size))
      : blob.size > FULL_RETURN_MAX_BYTES ? () => blob.stream() : await blob.head(blob.size));
    const byDomain = new Map<string, QueueRecipient[]>();
    for (const r of due) byDomain.set(domainOf(r.recipient), [...(byDomain.get(domainOf(r.recipient)) ?? []), r]);
    for (const [domain, recipients] of byDomain) {
      let outcomes: RecipientOutcome[];
      if (!sealed) {
        outcomes = recipients.map((r) => ({ recipient: r.recipient, kind: 'permanent' as const, code: 554, response: '554 5.3.0 the sealed message is missing from the store' }));
      } else if ('refused' in sealed) {
        outcomes = recipients.map((r) => ({ recipient: r.recipient, kind: 'permanent' as const, code: 554, response: sealed.refused }));
      } else {
        const lookup = transit ? await mssanteRouteFor(config, domain) : await routeFor(config, domain);
        if (!lookup.ok) {
          // What DNS said: a domain that does not exist fails now, with a report; a DNS failure is retried.
          outcomes = recipients.map((r) => (lookup.kind === 'permanent'
            ? { recipient: r.recipient, kind: 'permanent' as const, code: 550, response: lookup.reason, reason: 'no mail route (DNS)' }
            : { recipient: r.recipient, kind: 'temporary' as const, response: lookup.reason }));
        } else {
          const { routes } = lookup;
          outcomes = [];
          // Try each route in turn for the recipients still undecided.
          let left = recipients.map((r) => r.recipient);
          for (const route of routes) {
            const res = await sendToPeer({ config, tls: opts.tls, route, domain, envelopeFrom: item.envelopeFrom, recipients: left, sealed });
            outcomes.push(...res.filter((o) => o.kind !== 'temporary'));
            const temporary = res.filter((o) => o.kind === 'temporary');
            left = temporary.map((o) => o.recipient);
            if (!left.length) break;
            if (route === routes[routes.length - 1]) outcomes.push(...temporary);
          }
        }
      }
      const at = new Date();
      for (const o of outcomes) {
        const r = recipients.find((x) => x.recipient === o.recipient);
        if (r) await settle(item, r, o, at);
      }
    }
  };

  const runOnce = async (): Promise<void> => {
    const items = (await ctx.store.queue.claim(new Date(), BATCH, ctx.nodeId, leaseMs)).filter((i) => !inFlight.has(i.id));
    for (const item of items) inFlight.add(item.id);
    const release = (id: string): Promise<void> => {
      inFlight.delete(id);
      return ctx.store.queue.release(id, ctx.nodeId)
        .catch((err: unknown) => logger.warn({ queueId: id, code: (err as { code?: string }).code ?? (err as Error).name }, 'queue: lease release failed; it runs out by itself'));
    };
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length && !closed) {
        const item = items[next++]!;
        try {
          await deliverItem(item);
        } catch (err) {
          logger.error({ queueId: item.id, code: (err as { code?: string }).code ?? (err as Error).name }, 'queue: delivery pass failed; will retry at the next poll');
        } finally {
          await release(item.id);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_ITEMS, items.length) }, lane));
    // Claimed but not started (closing): back to the other nodes at once.
    await Promise.all(items.slice(next).map((item) => release(item.id)));
  };

  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      pass = runOnce().catch((err: unknown) => logger.error({ code: (err as { code?: string }).code ?? (err as Error).name }, 'queue: poll failed'))
        .finally(() => { pass = undefined; schedule(); });
    }, config.queue.pollMs);
  };

  // Publish the postmaster identity first, so that every report can be verified when opened.
  await reporter.init();
  schedule();
  logger.info({ pollMs: config.queue.pollMs, peers: config.peers.map((p) => p.domain) }, 'queue worker started');

  return {
    runOnce,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      clearInterval(renewal);
      await pass;
      closePeerConnections(opts.tls);
    },
  };
}
