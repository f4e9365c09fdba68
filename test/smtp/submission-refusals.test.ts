import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/in-process-gateway.js';
import { RawSmtpClient } from './fixtures/smtp-client.js';
import { JL, LGC, PASSWORD, PAUL, RMP, SUSPENDED, rawMessage, startSubmissionGateway, type SubmissionGateway } from './fixtures/submission-gateway.js';

const WHITELISTED_NO_KEY = 'claire.martin@cardio-sceaux.medgate.test';

/** A message with one attachment (base64). */
function withAttachment(o: { from: string; to: string; subject: string; filename: string; type: string; content: Buffer }): Buffer {
  const b = 'b-' + Math.random().toString(36).slice(2);
  return Buffer.from([
    `From: ${o.from}`, `To: ${o.to}`, `Subject: ${o.subject}`, `Date: ${new Date().toUTCString()}`, 'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`, '', `--${b}`, 'Content-Type: text/plain; charset=utf-8', '', 'Voir la pièce jointe.',
    `--${b}`, `Content-Type: ${o.type}; name="${o.filename}"`, `Content-Disposition: attachment; filename="${o.filename}"`,
    'Content-Transfer-Encoding: base64', '', o.content.toString('base64').replace(/.{76}/g, '$&\r\n'), `--${b}--`, '',
  ].join('\r\n'));
}

describeOnStores('SMTP submission refusals and robustness', (store) => {
  let gw: SubmissionGateway;
  beforeAll(async () => { gw = await startSubmissionGateway({ store, maxMessageBytes: 64 * 1024 }); }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  /** A logged-in session of PAUL on the STARTTLS port, MAIL FROM accepted. */
  async function paulTransaction(): Promise<RawSmtpClient> {
    const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!);
    expect(auth.code).toBe(235);
    expect((await client.cmd(`MAIL FROM:<${PAUL}>`)).code).toBe(250);
    return client;
  }

  /** The server still serves a normal client (after some misbehaviour). */
  async function stillServes(): Promise<void> {
    const client = await paulTransaction();
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    const r = await client.data(rawMessage({ from: PAUL, to: [JL], subject: 'toujours là' }));
    expect(`${r.code} ${r.text}`).toMatch(/^250 2\.0\.0 Ok: queued as /);
    await client.quit();
  }

  it('before STARTTLS: AUTH is neither advertised nor accepted, MAIL FROM needs authentication', async () => {
    const { client, greeting } = await RawSmtpClient.connect(gw.starttlsPort);
    expect(greeting.code).toBe(220);
    const ehlo = await client.cmd('EHLO clear.client');
    expect(ehlo.lines.join('\n')).toMatch(/STARTTLS/);
    expect(ehlo.lines.join('\n')).toMatch(/SIZE 65536/);
    expect(ehlo.lines.join('\n')).not.toMatch(/AUTH/);
    const auth = await client.authPlain(PAUL, PASSWORD[PAUL]!);
    expect(auth.code).not.toBe(235);
    expect(auth.code).toBeGreaterThanOrEqual(500);
    const mail = await client.cmd(`MAIL FROM:<${PAUL}>`);
    expect(`${mail.code} ${mail.text}`).toBe('530 5.7.0 Authentication required');
    await client.starttls(gw.caPem);
    const secureEhlo = await client.cmd('EHLO clear.client');
    expect(secureEhlo.lines.join('\n')).toMatch(/AUTH PLAIN LOGIN/);
    expect(secureEhlo.lines.join('\n')).toMatch(/DSN/);
    expect(`${(await client.cmd(`MAIL FROM:<${PAUL}>`)).code}`).toBe('530');
    await client.quit();
  });

  it('a wrong password gets 535 5.7.8', async () => {
    const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, PAUL, 'not the password');
    expect(`${auth.code} ${auth.text}`).toBe('535 5.7.8 Authentication credentials invalid');
    await client.quit();
  });

  it('MAIL FROM must be the account\'s own address (case-insensitive), else 553 5.7.1', async () => {
    const { client } = await RawSmtpClient.loggedIn(gw.tlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!, { implicitTls: true });
    const other = await client.cmd(`MAIL FROM:<${JL}>`);
    expect(`${other.code} ${other.text}`).toBe(`553 5.7.1 <${JL}>: sender address not owned by the authenticated account ${PAUL}`);
    expect((await client.cmd('MAIL FROM:<Paul.Demo@Cabinet-Antony.Medgate.Test>')).code).toBe(250);
    await client.quit();
  });

  it('a sender suspended in the directory gets 550 5.7.1 with the reason', async () => {
    const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, SUSPENDED, PASSWORD[SUSPENDED]!);
    expect(auth.code).toBe(235);
    const r = await client.cmd(`MAIL FROM:<${SUSPENDED}>`);
    expect(`${r.code} ${r.text}`).toBe(`550 5.7.1 Sender <${SUSPENDED}> refused: suspended`);
    await client.quit();
  });

  it('recipients: unknown 550 5.1.1, no key (MSSanté, policy deny) 550 5.7.1, domain outside the whitelist 550 5.7.1', async () => {
    const client = await paulTransaction();
    const unknown = await client.cmd('RCPT TO:<personne@cabinet-antony.medgate.test>');
    expect(`${unknown.code} ${unknown.text}`).toBe('550 5.1.1 <personne@cabinet-antony.medgate.test>: not in the health directory; medgate never sends without encryption');
    const noKey = await client.cmd(`RCPT TO:<${WHITELISTED_NO_KEY}>`);
    // An MSSanté mailbox without a key, under the default policy mssante.outbound: deny (issue 28).
    expect(`${noKey.code} ${noKey.text}`).toBe(`550 5.7.1 <${WHITELISTED_NO_KEY}>: MSSante mailbox without an encryption key, and this gateway's policy (mssante.outbound: deny) sends nothing protected by transport only`);
    const outside = await client.cmd('RCPT TO:<someone@gmail.com>');
    expect(`${outside.code} ${outside.text}`).toBe('550 5.7.1 <someone@gmail.com>: domain gmail.com is not in the MSSante whitelist');
    // The transaction goes on with a valid recipient.
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    await client.quit();
  });

  it('size: SIZE= above the limit refused at MAIL FROM; an oversized DATA gets 552 5.3.4 and delivers nothing', async () => {
    const { client } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!);
    const early = await client.cmd(`MAIL FROM:<${PAUL}> SIZE=${gw.maxMessageBytes + 1}`);
    expect(early.code).toBe(552);
    expect((await client.cmd(`MAIL FROM:<${PAUL}> SIZE=1000`)).code).toBe(250);
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    const before = (await gw.mailbox(JL, 'INBOX')).length;
    const big = rawMessage({ from: PAUL, to: [JL], subject: 'trop gros', body: ('x'.repeat(999) + '\r\n').repeat(80) });
    const r = await client.data(big);
    expect(`${r.code} ${r.text}`).toBe(`552 5.3.4 Message too big (limit ${gw.maxMessageBytes} bytes)`);
    expect((await gw.mailbox(JL, 'INBOX')).length).toBe(before);
    await client.quit();
  });

  it('a malformed message (IHE_XDM.ZIP that is not a zip) gets 554 5.6.0 saying what is wrong', async () => {
    const client = await paulTransaction();
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    const r = await client.data(withAttachment({ from: PAUL, to: JL, subject: 'XDM cassé', filename: 'IHE_XDM.ZIP', type: 'application/zip', content: Buffer.from('this is not a zip archive at all') }));
    expect(r.code).toBe(554);
    expect(r.text).toMatch(/^5\.6\.0 Malformed message: .+ \[XDM_ARCHIVE_INVALID\]$/);
    await client.quit();
  });

  it('a record server recipient needs the patient: 550 5.7.1 without, 250 with a subject tag', async () => {
    const client = await paulTransaction();
    expect((await client.cmd(`RCPT TO:<${RMP}>`)).code).toBe(250);
    const without = await client.data(rawMessage({ from: PAUL, to: [RMP], subject: 'Compte rendu' }));
    expect(`${without.code} ${without.text}`).toBe('550 5.7.1 A record server recipient needs the patient: add an IHE_XDM.ZIP, the X-Medgate-Patient-* header fields, ' +
      'an HPRIM header, or "PATIENT: NOM Prenom JJ/MM/AAAA" in the subject');
    expect((await gw.mailbox(RMP, 'INBOX'))).toHaveLength(0);
    expect((await client.cmd(`MAIL FROM:<${PAUL}>`)).code).toBe(250);
    expect((await client.cmd(`RCPT TO:<${RMP}>`)).code).toBe(250);
    const withTag = await client.data(rawMessage({ from: PAUL, to: [RMP], subject: 'Compte rendu PATIENT: DUPONT Marie 12/03/1956' }));
    expect(withTag.code).toBe(250);
    expect((await gw.mailbox(RMP, 'INBOX'))).toHaveLength(1);
    await client.quit();
  });

  it('a client certificate from another CA is refused, on both ports', async () => {
    const dir = path.join(gw.dir, 'rogue');
    fs.mkdirSync(dir);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${LGC}`,
      '-addext', `subjectAltName=email:${LGC}`, '-addext', 'extendedKeyUsage=clientAuth', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')], { stdio: 'ignore' });
    const cert = fs.readFileSync(path.join(dir, 'c.pem'), 'utf8');
    const key = fs.readFileSync(path.join(dir, 'k.pem'), 'utf8');
    const { client, greeting } = await RawSmtpClient.connect(gw.tlsPort, { implicitTls: true, ca: gw.caPem, cert, key });
    expect(greeting.code).toBe(554);
    expect(greeting.text).toMatch(/^5\.7\.1 Client certificate refused: not issued by a trusted authority/);
    client.close();
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.starttlsPort, requireTLS: true, tls: { ca: gw.caPem, servername: 'localhost', cert, key } });
    await expect(t.sendMail({ envelope: { from: LGC, to: [JL] }, raw: rawMessage({ from: LGC, to: [JL], subject: 'x' }) })).rejects.toMatchObject({ responseCode: 554 });
    // The genuine certificate still logs in.
    const ok = await RawSmtpClient.connect(gw.tlsPort, { implicitTls: true, ca: gw.caPem, cert: fs.readFileSync(gw.lgcCertFile, 'utf8'), key: fs.readFileSync(gw.lgcKeyFile, 'utf8') });
    expect(ok.greeting.code).toBe(220);
    expect((await ok.client.cmd('EHLO app')).lines.join('\n')).not.toMatch(/AUTH/);
    expect((await ok.client.cmd(`MAIL FROM:<${LGC}>`)).code).toBe(250);
    await ok.client.quit();
  });

  it('garbage commands and a very long line get errors, and the server keeps serving', async () => {
    const { client } = await RawSmtpClient.connect(gw.starttlsPort);
    for (const junk of ['HELLO???', '\u0001\u0002\u0003', 'MAIL FROM:<<<>>>', 'RCPT', 'DATA']) {
      const r = await client.cmd(junk);
      expect(r.code).toBeGreaterThanOrEqual(500);
    }
    client.close();
    const long = await RawSmtpClient.connect(gw.starttlsPort);
    long.client.write('EHLO ' + 'a'.repeat(200_000) + '\r\n');
    const r = await long.client.read().catch(() => ({ code: 0, text: 'closed' }));
    // 421: the server says why and closes; it must not crash or hang.
    expect([0, 421, 500]).toContain(r.code);
    long.client.close();
    await stillServes();
  });

  it('a client hanging up mid-DATA leaves no spool file, and the server keeps serving', async () => {
    // (Bodies up to 1 MiB stay in memory; the spool-file case is in large-message.test.ts.)
    const client = await paulTransaction();
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    client.write('Subject: coupé\r\n\r\n' + 'ligne de texte\r\n'.repeat(2000));
    await new Promise((r) => setTimeout(r, 300));
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.spoolFiles()).toEqual([]);
    await stillServes();
  });

  it('every refusal is in the audit trail, with codes and addresses, never content', async () => {
    const records = await gw.auditRecords();
    const refused = records.filter((x) => x.outcome === 'refused');
    const reasons = new Set(refused.map((x) => `${x.action}:${String(x.details.reason)}`));
    for (const expected of ['smtp.mail.refused:sender-not-owned', 'smtp.mail.refused:sender-suspended', 'smtp.mail.refused:auth-required',
      'smtp.rcpt.refused:recipient-unknown', 'smtp.rcpt.refused:recipient-mssante-denied', 'smtp.rcpt.refused:recipient-domain-not-whitelisted',
      'smtp.data.refused:message-too-big', 'smtp.data.refused:message-malformed', 'smtp.data.refused:patient-required',
      'smtp.certificate.refused:client-certificate-refused', 'auth.login:wrong-password']) {
      expect(reasons, expected).toContain(expected);
    }
    const text = JSON.stringify(records);
    expect(text).not.toContain('DUPONT');
    expect(text).not.toContain('trop gros');
    expect(text).not.toContain(PASSWORD[PAUL]!);
  });

  it('failed logins are rate-limited per address: after 5 failures even the right password gets 454 4.7.0', async () => {
    // From 127.0.0.2 so the other tests (127.0.0.1) are not blocked.
    for (let i = 0; i < 5; i++) {
      const { client, auth } = await RawSmtpClient.loggedIn(gw.tlsPort, gw.caPem, PAUL, `wrong ${i}`, { implicitTls: true, localAddress: '127.0.0.2' });
      expect(auth.code).toBe(535);
      client.close();
    }
    const { client, auth } = await RawSmtpClient.loggedIn(gw.tlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!, { implicitTls: true, localAddress: '127.0.0.2' });
    expect(`${auth.code} ${auth.text}`).toBe('454 4.7.0 Too many failed attempts, try again later');
    client.close();
    // Another address is not affected.
    const other = await RawSmtpClient.loggedIn(gw.tlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!, { implicitTls: true });
    expect(other.auth.code).toBe(235);
    await other.client.quit();
  });

  it('the CRL missing for a while: the client certificate gets 454 4.7.0 and the sender check 451 4.7.0 (retry), both accepted again once it is back', async () => {
    const crl = path.join(gw.config.pki.caDir, 'crl.pem');
    expect(fs.existsSync(crl)).toBe(true);
    const certLogin = () => RawSmtpClient.connect(gw.tlsPort, { implicitTls: true, ca: gw.caPem, cert: fs.readFileSync(gw.lgcCertFile, 'utf8'), key: fs.readFileSync(gw.lgcKeyFile, 'utf8') });
    fs.renameSync(crl, `${crl}.away`);
    try {
      const byCert = await certLogin();
      expect(`${byCert.greeting.code} ${byCert.greeting.text}`).toBe('454 4.7.0 Client certificate cannot be checked for revocation right now (no current CRL); try again later');
      byCert.client.close();
      const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!);
      expect(auth.code).toBe(235);
      const r = await client.cmd(`MAIL FROM:<${PAUL}>`);
      expect(`${r.code} ${r.text}`).toBe(`451 4.7.0 Sender <${PAUL}>: certificate cannot be checked for revocation right now (no current CRL); try again later`);
      await client.quit();
    } finally {
      fs.renameSync(`${crl}.away`, crl);
    }
    const again = await certLogin();
    expect(again.greeting.code).toBe(220);
    expect((await again.client.cmd('EHLO app')).lines.join('\n')).not.toMatch(/AUTH/);
    expect((await again.client.cmd(`MAIL FROM:<${LGC}>`)).code).toBe(250);
    await again.client.quit();
    await stillServes();
  });

  it('a revoked certificate (new CRL, no restart): the sender gets 550 5.7.1 certificate revoked, the client certificate 554', async () => {
    const serial = execFileSync('openssl', ['x509', '-noout', '-serial', '-in', gw.lgcCertFile]).toString().trim().replace(/^serial=/, '');
    await gw.revoke(serial);
    const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, LGC, PASSWORD[LGC]!);
    expect(auth.code).toBe(235);
    const r = await client.cmd(`MAIL FROM:<${LGC}>`);
    expect(`${r.code} ${r.text}`).toBe(`550 5.7.1 Sender <${LGC}> refused: certificate revoked`);
    await client.quit();
    const byCert = await RawSmtpClient.connect(gw.tlsPort, { implicitTls: true, ca: gw.caPem, cert: fs.readFileSync(gw.lgcCertFile, 'utf8'), key: fs.readFileSync(gw.lgcKeyFile, 'utf8') });
    expect(`${byCert.greeting.code} ${byCert.greeting.text}`).toMatch(/^554 5\.7\.1 Client certificate refused: revoked/);
    byCert.client.close();
  });

  it('the TLS listeners refuse TLS below 1.2 (protocol_version alert) and accept 1.2', async () => {
    // openssl s_client offering only that version (SECLEVEL=0 so the client itself does not refuse
    // to offer it): Node's own client gives up before sending a hello. Run asynchronously: the
    // gateway is in this process.
    const handshake = (version: string) => new Promise<{ ok: boolean; stderr: string }>((resolve) => execFile('openssl',
      ['s_client', '-connect', `127.0.0.1:${gw.tlsPort}`, version, '-cipher', 'DEFAULT@SECLEVEL=0', '-servername', 'localhost', '-CAfile', gw.caFile],
      { timeout: 20_000 }, (err, _stdout, stderr) => resolve({ ok: !err, stderr: String(stderr) })).stdin?.end());
    for (const old of ['-tls1', '-tls1_1']) {
      const r = await handshake(old);
      expect(r.ok, old).toBe(false);
      expect(r.stderr, old).toMatch(/alert protocol version/);
    }
    expect((await handshake('-tls1_2')).ok).toBe(true);
  });
});
