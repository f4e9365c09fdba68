/**
 * A FETCH of a message's body with its ENVELOPE and BODYSTRUCTURE reads the message's row from the
 * store once (issue 31, the serving thread's time): it asked three times (the stream check, the
 * body, the metadata) before the session kept the rows it read for a second. The answer is the
 * same, and a flag change made by another session meanwhile shows after a NOOP: flags never come
 * from those kept rows. On both stores, counted through the store interface.
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describeOnStores('a FETCH reads a message\'s row once', (store) => {
  let gw: InProcessGateway;
  let reads = 0;
  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
    const mail = gw.store.mail as { getMessage: (mailboxId: number, uid: number) => Promise<unknown> };
    const original = mail.getMessage.bind(mail);
    mail.getMessage = async (mailboxId, uid) => { reads++; return original(mailboxId, uid); };
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  const client = (): ImapFlow => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    return c;
  };

  it('body, ENVELOPE and BODYSTRUCTURE of a message another session appended: one row read; flags stay live', async () => {
    const writer = client();
    const reader = client();
    await writer.connect();
    await reader.connect();
    try {
      const raw = Buffer.from(['From: Dr Paul DEMO <' + PAUL + '>', 'To: ' + PAUL, 'Subject: Compte rendu', 'Message-ID: <rows-1@cabinet-antony.medgate.test>', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Bonjour.', ''].join('\r\n'));
      const appended = await writer.append('INBOX', raw, []);
      const uid = (appended as { uid: number }).uid;
      await reader.mailboxOpen('INBOX');
      reads = 0;
      const m = await reader.fetchOne(String(uid), { source: true, envelope: true, bodyStructure: true, flags: true }, { uid: true });
      expect(m && m.source!.toString()).toBe(raw.toString());
      expect(m && m.envelope!.subject).toBe('Compte rendu');
      expect(reads).toBe(1);
      // Another session flags it; after a NOOP the reader sees the flag, though its row was read
      // within the second (the kept rows never serve flags).
      await writer.mailboxOpen('INBOX');
      await writer.messageFlagsAdd(String(uid), ['\\Flagged'], { uid: true });
      await reader.noop();
      const again = await reader.fetchOne(String(uid), { flags: true, source: true }, { uid: true });
      expect(again && [...again.flags!]).toContain('\\Flagged');
    } finally {
      await writer.logout().catch(() => undefined);
      await reader.logout().catch(() => undefined);
    }
  }, 60_000);
});
