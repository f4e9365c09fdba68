import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareGateway, runCli, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describe('IMAP: a message whose signer is revoked before it is first opened', () => {
  let dir: string;
  let config: string;
  let gw: ServeProcess;

  beforeAll(async () => {
    dir = tempDir();
    config = writeGatewayConfig(dir);
    await prepareGateway(config, [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }]);
    // A clear-text spool file as a crash would leave it: serve removes it before listening.
    fs.mkdirSync(path.join(dir, 'data', 'spool'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'spool', 'submission-1-crash.eml'), 'Subject: PATIENT: DUPONT Jean 30/01/1959\r\n\r\nclear\r\n');
    gw = await startServe(config);
  }, 120_000);

  it('serve removes clear-text spool files left by a crash before it listens', () => {
    expect(fs.readdirSync(path.join(dir, 'data', 'spool'))).toEqual([]);
  });
  afterAll(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is shown as a readable notice naming the error, and the session goes on', async () => {
    const ca = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
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
    const ca = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
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
