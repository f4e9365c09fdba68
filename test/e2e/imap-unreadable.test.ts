import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startServe, type ServeProcess } from '../helpers/gateway.js';
import { describeOnStores, prepareForServe } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

/**
 * A real `medgate serve` (the spool check is its start-up) with the operator's `medgate directory
 * status` run beside it, on SQLite and on PostgreSQL (where the command's write reaches the serving
 * node through the cache invalidation feed). The data is prepared through the services.
 */
describeOnStores('IMAP: a message whose signer is revoked before it is first opened', (store) => {
  let config: string;
  let spool: string;
  let caFile: string;
  let gw: ServeProcess;
  let prepared: Awaited<ReturnType<typeof prepareForServe>> | undefined;

  beforeAll(async () => {
    prepared = await prepareForServe({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }] });
    config = prepared.configFile;
    caFile = prepared.caFile;
    spool = path.join(prepared.config.dataDir, 'spool');
    // A clear-text spool file as a crash would leave it: serve removes it before listening.
    fs.mkdirSync(spool, { recursive: true });
    fs.writeFileSync(path.join(spool, 'submission-1-crash.eml'), 'Subject: PATIENT: DUPONT Jean 30/01/1959\r\n\r\nclear\r\n');
    gw = await startServe(config);
  }, 120_000);

  it('serve removes clear-text spool files left by a crash before it listens', () => {
    expect(fs.readdirSync(spool)).toEqual([]);
  });
  afterAll(async () => {
    await gw?.stop();
    await prepared?.dispose();
  });

  it('is shown as a readable notice naming the error, and the session goes on', async () => {
    const ca = fs.readFileSync(caFile, 'utf8');
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmissionTls, secure: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    await t.sendMail({ from: PAUL, to: JL, subject: 'PATIENT: DUPONT Jean 30/01/1959 - avant revocation', text: 'Contenu.' });
    t.close();
    const revoke = await runCli(['directory', 'status', PAUL, 'revoked', '--config', config]);
    expect(revoke.code, revoke.stderr).toBe(0);

    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne('*', { source: true, envelope: true });
      const text = m ? m.source!.toString('utf8') : '';
      expect(m && m.envelope?.subject).toBe('[medgate] Message illisible / message could not be opened');
      expect(text).toContain('Code: SIGNER_REVOKED');
      expect(text).not.toContain('DUPONT');
      expect(text).not.toContain('avant revocation');
      expect((await c.status('INBOX', { messages: true })).messages).toBe(1);
    } finally {
      await c.logout();
    }
  });

  it('once the signer is active again, the next session opens it with its verdict (a failure is not pinned)', async () => {
    const ca = fs.readFileSync(caFile, 'utf8');
    const reinstate = await runCli(['directory', 'status', PAUL, 'active', '--config', config]);
    expect(reinstate.code, reinstate.stderr).toBe(0);
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne('*', { source: true, envelope: true, size: true });
      expect(m && m.envelope?.subject).toBe('PATIENT: DUPONT Jean 30/01/1959 - avant revocation');
      expect(m && m.source!.toString('utf8')).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@/);
      expect(m && m.size).toBe(m && m.source!.length);
      expect((await c.list()).map((b) => b.path)).toContain('Patients/DUPONT Jean (1959-01-30)');
    } finally {
      await c.logout();
    }
  });
});
