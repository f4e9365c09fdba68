import fs from 'node:fs';
import type { Command } from 'commander';
import { out, promptSecret } from './common.js';

/** `medgate rmp pull`: the reference record-server ingester (needs no gateway config, only IMAP access). */
export function registerRmpCommands(program: Command): void {
  const rmp = program.command('rmp').description('record-server (RMP) tools');
  rmp.command('pull')
    .description('fetch new items over IMAP as the record-server account and file them by patient and tab from the clear route fields')
    .requiredOption('--host <host>', 'gateway IMAP host')
    .requiredOption('--port <port>', 'gateway IMAP port', (v) => Number.parseInt(v, 10))
    .requiredOption('--user <address>', 'record-server account')
    .option('--password <password>', 'account password (else read from the terminal or stdin)')
    .requiredOption('--out <dir>', 'folder tree to file into (keeps .rmp-state.json)')
    .option('--ca <file>', 'CA certificate (PEM) that signed the gateway\'s certificate')
    .option('--tls', 'implicit TLS (IMAPS port) instead of STARTTLS')
    .option('--servername <name>', 'TLS server name when --host is an IP address')
    .action(async (opts: { host: string; port: number; user: string; password?: string; out: string; ca?: string; tls?: boolean; servername?: string }) => {
      const password = opts.password ?? await promptSecret(`password for ${opts.user}: `);
      const { rmpPull } = await import('../filing/rmp-pull.js'); // the IMAP client: only this command needs it
      const r = await rmpPull({
        host: opts.host, port: opts.port, user: opts.user, password, out: opts.out, secure: !!opts.tls,
        ...(opts.ca ? { caPem: fs.readFileSync(opts.ca, 'utf8') } : {}), ...(opts.servername ? { servername: opts.servername } : {}),
      });
      for (const f of r.filed) out(`filed uid ${f.uid} → ${f.file}`);
      out(`filed ${r.filed.length}, unfiled ${r.unfiled}, already filed ${r.skipped}`);
    });
}
