import type { Command } from 'commander';
/** The PKI code (@peculiar/x509, pkijs): loaded by the command that runs, not by every `medgate` start. */
const pkiCode = () => import('../pki/index.js');
import fs from 'node:fs';
import { MedgateError } from '../errors.js';
import { addConfigOption, out, withContext } from './common.js';

export function registerPkiCommands(program: Command): void {
  const pki = addConfigOption(program.command('pki').description('the local test PKI standing in for IGC-Santé'));

  addConfigOption(pki.command('init')
    .description('create the local test certification authority in the configured pki.caDir')
    .option('--force', 'replace an existing test CA (every certificate it issued stops being trusted)'))
    .action(async (opts: { force?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const ca = await (await pkiCode()).createTestCa({ dir: ctx.config.pki.caDir, commonName: `medgate test CA (${ctx.config.domain})`, force: opts.force });
        await ca.crlPem();
        await ctx.audit.record({ actor: 'operator', action: 'pki.init', outcome: 'ok', details: { caDir: ctx.config.pki.caDir, force: !!opts.force } });
        out(`test CA created: ${ctx.config.pki.caDir}/ca.pem (trust anchor), private key in ${ctx.config.pki.caDir}/private/ (never commit it)`);
      });
    });

  addConfigOption(pki.command('verify <certfile>')
    .description('validate a certificate against the configured trust anchors and CRLs')
    .option('--purpose <purpose>', 'tls-server | tls-client | user | gateway'))
    .action(async (certfile: string, opts: { purpose?: 'tls-server' | 'tls-client' | 'user' | 'gateway' }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const readAll = (files: string[]): string[] => files.filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8'));
        let pem: string;
        try { pem = fs.readFileSync(certfile, 'utf8'); } catch { throw new MedgateError('FILE_UNREADABLE', `cannot read ${certfile}`); }
        const res = await (await pkiCode()).validateCertificate(pem, { trustAnchorsPem: readAll(ctx.config.pki.trustAnchors), crlsPem: readAll(ctx.config.pki.crls), purpose: opts.purpose });
        if (res.ok) out(`valid: ${res.subject} (serial ${res.serial}, until ${res.notAfter instanceof Date ? res.notAfter.toISOString() : String(res.notAfter)})`);
        else throw new MedgateError('CERT_INVALID', `certificate refused (${res.code}): ${res.reason}`);
      });
    });

  addConfigOption(pki.command('revoke <serial>')
    .description('revoke a certificate issued by the test CA (by hex serial) and publish a new CRL'))
    .action(async (serial: string, _opts, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const ca = await ctx.loadCa();
        await ca.revoke(serial);
        await ca.crlPem();
        await ctx.audit.record({ actor: 'operator', action: 'pki.revoke', outcome: 'ok', details: { serial } });
        out(`revoked ${serial}; CRL updated in ${ctx.config.pki.caDir}/crl.pem`);
      });
    });

  addConfigOption(pki.command('show <certfile>').description('print a certificate\'s subject, addresses, serial and validity'))
    .action(async (certfile: string) => {
      let pem: string;
      try { pem = fs.readFileSync(certfile, 'utf8'); } catch { throw new MedgateError('FILE_UNREADABLE', `cannot read ${certfile}`); }
      out(JSON.stringify((await pkiCode()).readCertificateInfo(pem), null, 2));
    });
}
