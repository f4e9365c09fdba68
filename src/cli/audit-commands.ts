import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import { addConfigOption, out, withContext } from './common.js';

export function registerAuditCommands(program: Command): void {
  const audit = addConfigOption(program.command('audit').description('the append-only, hash-chained audit trail'));

  addConfigOption(audit.command('verify').description('check the hash chain; names the first broken record'))
    .action(async (_o, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const res = await ctx.audit.verify();
        if (!res.ok) throw new MedgateError('AUDIT_CHAIN_BROKEN', `audit trail broken at record ${res.brokenAt}: ${res.reason}`);
        out(`audit trail intact: ${res.records} records, head ${res.headHash}`);
      });
    });

  addConfigOption(audit.command('list')
    .description('print audit records (JSON lines)')
    .option('--from <seq>', 'first record', '1')
    .option('--limit <n>', 'how many', '100'))
    .action(async (opts: { from: string; limit: string }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        for (const r of await ctx.audit.list(Number(opts.from), Number(opts.limit))) out(JSON.stringify(r));
      });
    });
}
