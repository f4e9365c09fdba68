import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import { addConfigOption, out, promptSecret, withContext } from './common.js';

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) throw new MedgateError('USAGE', 'give the message on standard input, e.g. `medgate message seal ... < in.eml`');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function passwordFor(address: string, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) throw new MedgateError('USAGE', 'the message comes on standard input: give the password with --password');
  return promptSecret(`password for ${address}: `);
}

const REFUSAL_TEXT: Record<string, string> = {
  unknown: 'is not in the directory',
  'no-key': 'has no encryption key in the directory',
  'domain-not-whitelisted': 'is in a domain outside the MSSanté whitelist',
  suspended: 'is suspended in the directory',
  revoked: 'is revoked in the directory',
};

export function registerMessageCommands(program: Command): void {
  const msg = addConfigOption(program.command('message').description('seal, open and inspect messages without mail flowing (debugging)'));

  addConfigOption(msg.command('seal')
    .description('seal a message from standard input for its recipients; writes medgate/1 to standard output')
    .requiredOption('--from <address>', 'the sending account (its key signs)')
    .requiredOption('--to <address...>', 'recipient(s) (must have a key in the directory)')
    .option('--password <password>', 'the sender\'s password (required when the message comes on standard input)'))
    .action(async (opts: { from: string; to: string[]; password?: string }, cmd: Command) => {
      const raw = await readStdin();
      const password = await passwordFor(opts.from, opts.password);
      await withContext(cmd, async (ctx) => {
        const sealer = await ctx.sealer();
        const unlocked = await ctx.accounts.unlock(opts.from, password, { via: 'cli' });
        const entry = await ctx.directory.lookup(unlocked.account.address);
        if (!entry || entry.status !== 'active') throw new MedgateError('SENDER_NOT_ACTIVE', `${opts.from} is not active in the directory`);
        const resolved = await Promise.all(opts.to.map((a) => sealer.resolveRecipient(a)));
        const refused = resolved.filter((r) => !r.ok);
        if (refused.length) {
          throw new MedgateError('RECIPIENT_REFUSED', refused.map((r) => `${r.address} ${REFUSAL_TEXT[(r as { reason: string }).reason]}`).join('; ') +
            ': medgate never sends without encryption');
        }
        const res = await sealer.seal({
          raw, envelopeFrom: unlocked.account.address,
          sender: { address: unlocked.account.address, pgpKey: unlocked.pgpKey, entry },
          recipients: resolved.filter((r) => r.ok),
        });
        await ctx.audit.record({ actor: unlocked.account.address, action: 'message.seal', outcome: 'ok', messageId: res.messageId,
          details: { via: 'cli', recipients: opts.to.length, documentType: res.documentType, patientFound: !!res.patient, conflicts: res.conflicts.map((c) => c.field) } });
        process.stdout.write(res.sealed);
        process.stderr.write(`sealed ${res.messageId}: document ${res.documentType}, patient ${res.patient ? `found (${res.patient.source})` : 'not found'}` +
          `${res.conflicts.length ? `, CONFLICTING patient sources on ${res.conflicts.map((c) => `${c.field} (${c.sources.join(' vs ')})`).join(', ')}` : ''}` +
          `${res.alreadyEncrypted ? ', input already encrypted: not encrypted twice' : ''}\n`);
      });
    });

  addConfigOption(msg.command('open')
    .description('open a sealed message from standard input as a recipient; writes the original message to standard output')
    .requiredOption('--as <address>', 'the recipient account whose key decrypts')
    .option('--password <password>', 'its password (required when the message comes on standard input)'))
    .action(async (opts: { as: string; password?: string }, cmd: Command) => {
      const sealed = await readStdin();
      const password = await passwordFor(opts.as, opts.password);
      await withContext(cmd, async (ctx) => {
        const sealer = await ctx.sealer();
        const unlocked = await ctx.accounts.unlock(opts.as, password, { via: 'cli' });
        // Loaded here, not at the top: `--help` loads commander and nothing else (test/e2e/cli-startup).
        const { isOwnCopyAead } = await import('../crypto/seal/own-copy-aead.js');
        if (isOwnCopyAead(sealed)) {
          const { openOwnCopyAs } = await import('../mailbox/meta-key.js');
          // A copy the account stored itself (IMAP APPEND), sealed under its account key (§5.2).
          process.stdout.write(await openOwnCopyAs(ctx.store.accounts, opts.as, unlocked.pgpKey, sealed, ctx.config.security.unsignedAccountKeys));
          process.stderr.write(`own copy of ${opts.as}: authenticated with its account key\n`);
          return;
        }
        const res = await sealer.open(sealed, unlocked.pgpKey);
        process.stdout.write(res.raw);
        process.stderr.write(`signature valid: ${res.verification.signer} (${res.verification.fingerprint})\n`);
      });
    });

  addConfigOption(msg.command('inspect')
    .description('show what a sealed message reveals in clear, and its routing header when this gateway\'s filing key opens it')
    .option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const sealed = await readStdin();
      await withContext(cmd, async (ctx) => {
        const sealer = await ctx.sealer();
        const visible = sealer.inspect(sealed);
        let routing: unknown = null;
        let routingError: string | null = null;
        try {
          routing = await sealer.openRouting(sealed);
        } catch (err) {
          routingError = err instanceof MedgateError ? `${err.code}: ${err.message}` : (err as Error).message;
        }
        if (opts.json) { out(JSON.stringify({ visible, routing, routingError }, null, 2)); return; }
        out('visible in clear:');
        for (const [k, v] of visible.outerHeaders) out(`  ${k}: ${v.length > 100 ? v.slice(0, 100) + '…' : v}`);
        out(`structure: ${visible.structure.join(' | ')}`);
        out(`already encrypted by the client: ${visible.alreadyEncrypted ? 'yes' : 'no'}`);
        if (routing) out('routing header (opened with this gateway\'s filing key):\n' + JSON.stringify(routing, null, 2));
        else out(`routing header: not readable by this gateway (${routingError})`);
      });
    });
}
