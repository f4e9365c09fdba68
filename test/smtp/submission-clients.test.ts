import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/in-process-gateway.js';
import { JL, LGC, PASSWORD, PAUL, rawMessage, sha256, startSubmissionGateway, type SubmissionGateway } from './fixtures/submission-gateway.js';

/** Checks one accepted submission end to end: one sealed copy in the INBOX, one in Sent, byte-exact when opened. */
function execFileText(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
}

async function expectDelivered(gw: SubmissionGateway, o: { from: string; to: string; raw: Buffer; subject: string; inboxBefore: number; sentBefore: number }): Promise<void> {
  const inbox = (await gw.mailbox(o.to, 'INBOX'));
  expect(inbox.length).toBe(o.inboxBefore + 1);
  const sealed = inbox[inbox.length - 1]!;
  expect(sealed.toString('latin1')).toContain('multipart/encrypted');
  expect(sealed.toString('latin1')).not.toContain(o.subject);
  expect(sha256((await gw.openAs(sealed, o.to)))).toBe(sha256(o.raw));
  const sent = (await gw.mailbox(o.from, 'Sent'));
  expect(sent.length).toBe(o.sentBefore + 1);
  expect(sha256((await gw.openAs(sent[sent.length - 1]!, o.from)))).toBe(sha256(o.raw));
}

describeOnStores('SMTP submission with real clients', (store) => {
  let gw: SubmissionGateway;
  beforeAll(async () => { gw = await startSubmissionGateway({ store }); }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  it('nodemailer on the STARTTLS port (requireTLS, server certificate verified): 250, sealed in INBOX, Sent copy', async () => {
    const subject = 'Compte rendu consultation nodemailer starttls';
    const raw = rawMessage({ from: PAUL, to: [JL], subject });
    const before = { inboxBefore: (await gw.mailbox(JL, 'INBOX')).length, sentBefore: (await gw.mailbox(PAUL, 'Sent')).length };
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.starttlsPort, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PASSWORD[PAUL]! }, tls: { ca: gw.caPem, servername: 'localhost' },
    });
    const info = await t.sendMail({ envelope: { from: PAUL, to: [JL] }, raw });
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as [0-9a-f-]{36}$/);
    await expectDelivered(gw, { from: PAUL, to: JL, raw, subject, ...before });
  });

  it('nodemailer on the implicit TLS port, message built with MailComposer, DSN parameters accepted', async () => {
    const subject = 'Résultats — nodemailer implicit TLS';
    const MailComposer = (await import('nodemailer/lib/mail-composer/index.js')).default;
    const built = await new MailComposer({ from: PAUL, to: JL, subject, text: 'Bonjour,\nles résultats sont normaux.\n' }).compile().build();
    // MailComposer leaves bare LF in the body; SMTP carries CRLF lines, which is what arrives.
    const raw = Buffer.from(built.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    const before = { inboxBefore: (await gw.mailbox(JL, 'INBOX')).length, sentBefore: (await gw.mailbox(PAUL, 'Sent')).length };
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.tlsPort, secure: true,
      auth: { user: PAUL, pass: PASSWORD[PAUL]! }, tls: { ca: gw.caPem, servername: 'localhost' },
    });
    // RET / ENVID on MAIL FROM, NOTIFY / ORCPT on RCPT TO (RFC 3461).
    const mail = { envelope: { from: PAUL, to: [JL] }, raw, dsn: { id: 'env-42', return: 'headers', notify: ['failure', 'delay'], recipient: PAUL } };
    const info = await t.sendMail(mail);
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await expectDelivered(gw, { from: PAUL, to: JL, raw, subject, ...before });
  });

  it('Python smtplib (starttls, login, sendmail) with certificate verification', async () => {
    const subject = 'Courrier smtplib';
    const raw = rawMessage({ from: JL, to: [PAUL], subject });
    const msgFile = path.join(gw.dir, 'smtplib.eml');
    fs.writeFileSync(msgFile, raw);
    const script = [
      'import smtplib, ssl, sys',
      'port, ca, user, pw, rcpt, f = sys.argv[1:7]',
      'ctx = ssl.create_default_context(cafile=ca)',
      's = smtplib.SMTP("localhost", int(port), timeout=30)',
      's.ehlo()',
      'print("auth-before-tls", s.has_extn("auth"))',
      's.starttls(context=ctx)',
      's.ehlo()',
      's.login(user, pw)',
      'data = open(f, "rb").read()',
      'print("refused", s.sendmail(user, [rcpt], data))',
      'code, text = s.noop()',
      's.quit()',
    ].join('\n');
    const before = { inboxBefore: (await gw.mailbox(PAUL, 'INBOX')).length, sentBefore: (await gw.mailbox(JL, 'Sent')).length };
    const out = await new Promise<string>((resolve, reject) => execFile('python3', ['-c', script, String(gw.starttlsPort), gw.caFile, JL, PASSWORD[JL]!, PAUL, msgFile],
      { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
    expect(out).toContain('auth-before-tls False');
    expect(out).toContain('refused {}');
    await expectDelivered(gw, { from: JL, to: PAUL, raw, subject, ...before });
  });

  it('swaks (STARTTLS, AUTH LOGIN, server certificate verified against the test CA)', async () => {
    const subject = 'Courrier swaks';
    const raw = rawMessage({ from: PAUL, to: [JL], subject });
    const msgFile = path.join(gw.dir, 'swaks.eml');
    // swaks ends the DATA with its own line end: give it the file without the last CRLF.
    fs.writeFileSync(msgFile, raw.subarray(0, raw.length - 2));
    const before = { inboxBefore: (await gw.mailbox(JL, 'INBOX')).length, sentBefore: (await gw.mailbox(PAUL, 'Sent')).length };
    // Asynchronously: the gateway runs in this process, a blocking wait would stall it.
    const out = await execFileText('swaks', ['--server', `127.0.0.1:${gw.starttlsPort}`, '--tls', '--tls-verify', '--tls-ca-path', gw.caFile, '--tls-sni', 'localhost',
      '--auth', 'LOGIN', '--auth-user', PAUL, '--auth-password', PASSWORD[PAUL]!, '--from', PAUL, '--to', JL, '--data', '@' + msgFile]);
    expect(out).toMatch(/<~ {1,2}250 2\.0\.0 Ok: queued as/);
    // swaks sends the file as DATA; SMTP transparency must give back the same bytes.
    await expectDelivered(gw, { from: PAUL, to: JL, raw, subject, ...before });
  });

  it('an application account logs in with its client certificate alone (no AUTH) on both ports', async () => {
    for (const [port, secure] of [[gw.tlsPort, true], [gw.starttlsPort, false]] as const) {
      const subject = `Résultat HPRIM via certificat ${port}`;
      const raw = rawMessage({ from: LGC, to: [JL], subject });
      const before = { inboxBefore: (await gw.mailbox(JL, 'INBOX')).length, sentBefore: (await gw.mailbox(LGC, 'Sent')).length };
      const t = nodemailer.createTransport({
        host: '127.0.0.1', port, secure, requireTLS: !secure,
        tls: { ca: gw.caPem, servername: 'localhost', cert: fs.readFileSync(gw.lgcCertFile), key: fs.readFileSync(gw.lgcKeyFile) },
      });
      const info = await t.sendMail({ envelope: { from: LGC, to: [JL] }, raw });
      expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as /);
      await expectDelivered(gw, { from: LGC, to: JL, raw, subject, ...before });
    }
  });

  it('a message for several recipients is sealed once: the same blob in each INBOX and in Sent', async () => {
    const raw = rawMessage({ from: LGC, to: [JL, PAUL], subject: 'Deux destinataires' });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.tlsPort, secure: true, auth: { user: LGC, pass: PASSWORD[LGC]! }, tls: { ca: gw.caPem, servername: 'localhost' } });
    await t.sendMail({ envelope: { from: LGC, to: [JL, PAUL] }, raw });
    const a = (await gw.mailbox(JL, 'INBOX')).at(-1)!;
    const b = (await gw.mailbox(PAUL, 'INBOX')).at(-1)!;
    const s = (await gw.mailbox(LGC, 'Sent')).at(-1)!;
    expect(sha256(a)).toBe(sha256(b));
    expect(sha256(s)).toBe(sha256(a));
    expect(sha256((await gw.openAs(b, PAUL)))).toBe(sha256(raw));
  });
});
