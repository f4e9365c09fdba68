import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { JL, PASSWORD, PAUL, rawMessage, startSubmissionGateway, type SubmissionGateway } from '../smtp/fixtures/submission-gateway.js';

/** How each of an account's logins went, from the gateway's audit trail: outcome and `unlock` (or the refusal reason). */
async function logins(gw: SubmissionGateway, address: string): Promise<string[]> {
  const records = (await gw.auditRecords()).filter((r) => r.action === 'auth.login' && r.actor === address);
  return records.map((r) => { const d = r.details as { unlock?: string; reason?: string }; return `${r.outcome}:${d.unlock ?? d.reason}`; });
}

describeOnStores('login cache through SMTP submission', (store) => {
  let gw: SubmissionGateway;
  // The cache is off by default (keys unlocked for the session only, as DESIGN.md says): turned on here.
  beforeAll(async () => { gw = await startSubmissionGateway({ store, security: { loginCache: { ttlSeconds: 600, maxEntries: 100 } } }); }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  const send = (pass: string, subject: string) => nodemailer.createTransport({
    host: '127.0.0.1', port: gw.starttlsPort, secure: false, requireTLS: true,
    auth: { user: PAUL, pass }, tls: { ca: gw.caPem, servername: 'localhost' },
  }).sendMail({ envelope: { from: PAUL, to: [JL] }, raw: rawMessage({ from: PAUL, to: [JL], subject }) });

  it('a client that reconnects is unlocked from the cache the second time; a wrong password in between is still refused', async () => {
    const before = (await gw.mailbox(JL, 'INBOX')).length;
    await send(PASSWORD[PAUL]!, 'premier envoi');
    await expect(send(PASSWORD[PAUL]! + '!', 'mauvais mot de passe')).rejects.toMatchObject({ responseCode: 535 });
    await send(PASSWORD[PAUL]!, 'second envoi');
    expect((await gw.mailbox(JL, 'INBOX')).length).toBe(before + 2);
    expect((await logins(gw, PAUL)).slice(-3)).toEqual(['ok:full', 'refused:wrong-password', 'ok:cached']);
  });
});
