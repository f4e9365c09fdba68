import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import type { QueueItem } from '../store/types.js';
import { addConfigOption, out, withContext } from './common.js';

function describe(item: QueueItem): string {
  const lines = [
    `${item.id}  from ${item.envelopeFrom}  message-id ${item.messageId}  created ${item.createdAt}  expires ${item.expiresAt}`,
  ];
  for (const r of item.recipients) {
    const next = r.status === 'pending' ? `  next ${r.nextAttemptAt}` : '';
    lines.push(`  ${r.recipient}  ${r.status}  attempts ${r.attempts}${next}${r.lastError ? `  last error: ${r.lastError}` : ''}`);
  }
  return lines.join('\n');
}

async function mustExist(get: () => Promise<QueueItem | undefined>, id: string): Promise<QueueItem> {
  const item = await get();
  if (!item) throw new MedgateError('QUEUE_ITEM_UNKNOWN', `no queue item ${id} (see \`medgate queue list\`)`);
  return item;
}

/** `medgate queue list|retry|remove`: the outbound queue, for the operator. Works while `serve` runs. */
export function registerQueueCommands(program: Command): void {
  const queue = addConfigOption(program.command('queue').description('the outbound delivery queue (mail waiting for peer gateways)'));

  addConfigOption(queue.command('list')
    .description('list queued messages and each recipient\'s status, attempts, next attempt and last error')
    .option('--all', 'include items whose recipients are all delivered or failed')
    .option('--json', 'print JSON'))
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const items = (await ctx.store.queue.list()).filter((i) => opts.all || i.recipients.some((r) => r.status !== 'delivered'));
        if (opts.json) { out(JSON.stringify(items, null, 2)); return; }
        if (!items.length) { out('queue empty'); return; }
        out(items.map(describe).join('\n\n'));
      });
    });

  addConfigOption(queue.command('retry <id>')
    .description('make the pending recipients of a queue item due now')
    .option('--failed', 'also retry recipients that failed permanently'))
    .action(async (id: string, opts: { failed?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const item = await mustExist(() => ctx.store.queue.get(id), id);
        const n = await ctx.store.queue.retryNow(id, !!opts.failed);
        await ctx.audit.record({ actor: 'operator', action: 'queue.retry', outcome: 'ok', messageId: item.messageId, details: { queueId: id, recipients: n, includeFailed: !!opts.failed } });
        out(`${id}: ${n} recipient(s) due now`);
      });
    });

  addConfigOption(queue.command('remove <id>').description('delete a queue item: its undelivered recipients will never get it'))
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const item = await mustExist(() => ctx.store.queue.get(id), id);
        await ctx.store.queue.remove(id);
        await ctx.audit.record({
          actor: 'operator', action: 'queue.remove', outcome: 'ok', messageId: item.messageId,
          details: { queueId: id, undelivered: item.recipients.filter((r) => r.status !== 'delivered').map((r) => r.recipient) },
        });
        out(`${id}: removed`);
      });
    });
}
