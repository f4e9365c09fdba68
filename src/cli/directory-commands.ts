import fs from 'node:fs';
import type { Command } from 'commander';
import { MedgateError } from '../errors.js';
import type { DirectoryEntry } from '../store/types.js';
/** The certificate readers (@peculiar/x509): loaded by the command that shows certificates, not by every `medgate` start. */
type CertificateReaders = Pick<typeof import('../pki/index.js'), 'readCertificateInfo' | 'isSmimeEncryptionCertificate'>;
import { addConfigOption, out, withContext } from './common.js';
import type { ImportReport } from '../directory/directory-service.js';

function printReport(r: ImportReport): void {
  out(`imported: ${r.inserted}  updated: ${r.updated}  unchanged: ${r.unchanged}  rejected: ${r.rejected.length}`);
  for (const rej of r.rejected) out(`  rejected${rej.line !== undefined ? ` line ${rej.line}` : ''}${rej.address ? ` (${rej.address})` : ''}: ${rej.reason}`);
}

function formatEntry(e: DirectoryEntry, pki: CertificateReaders): string {
  const rows: Array<[string, string | null]> = [
    ['address', e.address], ['mailbox type', e.mailboxType], ['status', e.status],
    ['identifier', e.idType ? `${e.idType} ${e.idValue ?? ''}`.trim() : null], ['national id', e.nationalId],
    ['name', [e.civility, e.givenName, e.familyName].filter(Boolean).join(' ') || null],
    ['profession', e.professionCode ? `${e.professionCode} ${e.professionLabel ?? ''}`.trim() : null],
    ['specialty', e.specialtyCode ? `${e.specialtyCode} ${e.specialtyLabel ?? ''}`.trim() : null],
    ['organisation', e.organisation], ['source', e.source],
    ['certificate', e.certificatePem ? 'yes' : 'no'], ['OpenPGP key', e.pgpPublicKey ? 'yes' : 'no'], ['updated', e.updatedAt],
  ];
  const text = rows.filter(([, v]) => v).map(([k, v]) => `${k.padEnd(14)} ${v}`).join('\n');
  return e.certificatePem ? `${text}\n${formatCertificate(e.certificatePem, e.address, pki)}` : text;
}

/** The X.509 (encryption) certificate of an entry: what an operator checks against the PKI. */
function formatCertificate(pem: string, address: string, pki: CertificateReaders): string {
  let rows: Array<[string, string]>;
  try {
    const c = pki.readCertificateInfo(pem);
    // The same test the sealer applies when it chooses S/MIME for a recipient (src/message/recipient-format.ts).
    const encrypts = pki.isSmimeEncryptionCertificate(pem, address);
    rows = [
      ['subject', c.subject], ['issuer', c.issuer], ['serial', c.serial], ['emails', c.emails.join(', ') || '-'],
      ['valid', `${c.notBefore.toISOString()} .. ${c.notAfter.toISOString()}`], ['key usage', c.keyUsage.join(', ') || '(unrestricted)'],
      ['S/MIME', encrypts ? 'encryption certificate (can be sealed to)' : 'not an encryption certificate for this address (signature only, other address, or expired)'], ['sha256', c.fingerprint256],
    ];
  } catch (err) {
    rows = [['unreadable', err instanceof Error ? err.message : String(err)]];
  }
  return rows.map(([k, v]) => `  cert ${k.padEnd(9)} ${v}`).join('\n');
}

export function registerDirectoryCommands(program: Command): void {
  const dir = addConfigOption(program.command('directory').description('the health directory: who may send, with which identity and keys'));

  addConfigOption(dir.command('import <file>')
    .description('import the ANS Extraction_Correspondance_MSSante file (UTF-8, |-separated); idempotent'))
    .action(async (file: string, _o, cmd: Command) => {
      await withContext(cmd, async (ctx) => printReport(await ctx.directory.importAnsFile(file)));
    });

  const wl = addConfigOption(dir.command('whitelist').description('the MSSanté domain whitelist (liste blanche)'));
  addConfigOption(wl.command('import <file>').description('replace the domain whitelist with the domains of this XML file'))
    .action(async (file: string, _o, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const r = await ctx.directory.importWhitelistFile(file);
        out(`whitelist: ${r.domains} domains (added ${r.added}, removed ${r.removed}, kept ${r.kept})`);
      });
    });
  addConfigOption(wl.command('list').description('print the whitelisted domains'))
    .action(async (_o, cmd: Command) => {
      await withContext(cmd, async (ctx) => { for (const d of await ctx.store.directory.listWhitelist()) out(d); });
    });

  addConfigOption(dir.command('show <query>')
    .description('print the entry for an address, RPPS/ADELI/FINESS number or national id')
    .option('--json', 'print JSON'))
    .action(async (query: string, opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const found = await ctx.directory.find(query);
        if (!found.length) throw new MedgateError('DIRECTORY_NOT_FOUND', `no directory entry matches "${query}"`);
        if (opts.json) return out(JSON.stringify(found, null, 2));
        const pkiReaders: CertificateReaders = await import('../pki/index.js');
        out(found.map((e) => formatEntry(e, pkiReaders)).join('\n\n'));
      });
    });

  addConfigOption(dir.command('export')
    .description('export this gateway\'s users, their public keys and certificates, and the filing key, for peer gateways')
    .option('-o, --out <file>', 'write to a file instead of standard output'))
    .action(async (opts: { out?: string }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const [{ ensureFilingKey }, { ensurePostmaster }] = await Promise.all([import('../crypto/gateway-keys.js'), import('../mailbox/postmaster.js')]);
        const filing = await ensureFilingKey(ctx.config.keysDir ?? ctx.config.dataDir, ctx.config.domain);
        // The postmaster signs delivery reports and read receipts: peers must know its key.
        await ensurePostmaster(ctx);
        const certFile = `${ctx.config.keysDir ?? ctx.config.dataDir}/tls/gateway.crt.pem`;
        const json = await ctx.directory.exportLocal({
          filingKeyArmored: filing.publicKeyArmored,
          gatewayCertificatePem: fs.existsSync(certFile) ? fs.readFileSync(certFile, 'utf8') : undefined,
        });
        if (opts.out) { fs.writeFileSync(opts.out, json); out(`written ${opts.out}`); } else out(json);
      });
    });

  const peer = addConfigOption(dir.command('peer').description('users and keys of peer gateways'));
  addConfigOption(peer.command('import <file>').description('import a file produced by `medgate directory export` on a peer gateway'))
    .action(async (file: string, _o, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const r = await ctx.directory.importPeerFile(file);
        out(`peer ${r.domain}:`);
        printReport(r);
      });
    });

  addConfigOption(dir.command('status <address> <status>').description('set an entry active, suspended or revoked'))
    .action(async (address: string, status: string, _o, cmd: Command) => {
      if (!['active', 'suspended', 'revoked'].includes(status)) throw new MedgateError('USAGE', 'status must be active, suspended or revoked');
      await withContext(cmd, async (ctx) => {
        await ctx.directory.setStatus(address, status as DirectoryEntry['status']);
        out(`${address}: ${status}`);
      });
    });
}
