/**
 * The IMAP metadata of a client's own copy (ENVELOPE, BODYSTRUCTURE) is computed once, at APPEND,
 * from the bytes the client gave, and committed with the copy (its encrypted cache entry, in the
 * delivery's transaction): on the real gateway and on BOTH stores, with imapflow.
 *
 * - Another session of the account, open while the client APPENDs, FETCHes ENVELOPE and
 *   BODYSTRUCTURE and gets the right answer (the account's shared metadata).
 * - After a restart (nothing in memory), a new session's FETCH ENVELOPE BODYSTRUCTURE leaves the
 *   stored entry as it was: read through the store's own interface before and after, the same
 *   ciphertext. A session that had to parse the copy again would have encrypted and written a new
 *   entry (the metadata cache is encrypted with a fresh nonce each time).
 */
import fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/index.js';
import { startServe, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';
import { describeOnStores } from '../helpers/stores.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';


/** A draft with accented text and a PDF, as a mail client builds it. */
async function draft(id: string): Promise<Buffer> {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 6000 }, (_, i) => (i * 7) & 0xff)), Buffer.from('\n%%EOF\n')]);
  return new MailComposer({
    from: `"Dr Paul DEMO" <${PAUL}>`, to: 'jl.letest@cabinet-antony.medgate.test', subject: `Compte rendu ${id} — échographie`,
    messageId: `<${id}@cabinet-antony.medgate.test>`, date: new Date('2026-12-07T08:00:00Z'),
    text: 'Cher confrère,\n\nveuillez trouver le compte rendu ci-joint.\n',
    attachments: [{ filename: 'compte-rendu.pdf', content: pdf, contentType: 'application/pdf' }],
  }).compile().build();
}

describeOnStores('APPEND computes the copy\'s ENVELOPE and BODYSTRUCTURE once, for every session', (store) => {
  let config: string;
  let ca: string;
  let gw: ServeProcess | undefined;
  let prepared: Awaited<ReturnType<typeof prepareForServe>> | undefined;

  beforeAll(async () => {
    // Set up through the services `medgate init` / `user add` call (no CLI process per step), then served by a real process.
    prepared = await prepareForServe({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
    config = prepared.configFile;
    ca = fs.readFileSync(prepared.caFile, 'utf8');
    gw = await startServe(config);
  }, 240_000);

  afterAll(async () => {
    await gw?.stop('SIGKILL').catch(() => undefined);
    await prepared?.dispose();
  });

  const imap = (): ImapFlow => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw!.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    return c;
  };

  /** The stored (encrypted) metadata entry of Drafts' message `uid`, through the store's interface, the gateway stopped. */
  const storedEntry = async (uid: number): Promise<string | undefined> => {
    await gw!.stop();
    gw = undefined;
    const st = await openStore(loadConfig(config));
    try {
      const drafts = (await st.mail.getMailbox(PAUL, 'Drafts'))!;
      const m = await st.mail.getMessage(drafts.id, uid);
      return m && st.mail.getMeta(PAUL, m.blobId);
    } finally {
      await st.close();
    }
  };

  const expectDescribed = (m: { envelope?: { subject?: string; messageId?: string }; bodyStructure?: { type?: string; childNodes?: Array<{ type?: string; dispositionParameters?: { filename?: string } }> } } | false | undefined, id: string): void => {
    expect(m && m.envelope?.subject).toBe(`Compte rendu ${id} — échographie`);
    expect(m && m.envelope?.messageId).toBe(`<${id}@cabinet-antony.medgate.test>`);
    expect(m && m.bodyStructure?.type).toBe('multipart/mixed');
    expect(m && m.bodyStructure?.childNodes?.map((p) => p.type)).toEqual(['text/plain', 'application/pdf']);
    expect(m && m.bodyStructure?.childNodes?.[1]?.dispositionParameters?.filename).toBe('compte-rendu.pdf');
  };

  it('another open session FETCHes it at once; after a restart a new session\'s FETCH leaves the committed entry untouched', async () => {
    const a = imap();
    const b = imap();
    await Promise.all([a.connect(), b.connect()]);
    let uid: number;
    try {
      const res = await a.append('Drafts', await draft('live'));
      uid = (res && res.uid) as number;
      expect(uid).toBeGreaterThan(0);
      const lock = await b.getMailboxLock('Drafts');
      try {
        expectDescribed(await b.fetchOne(String(uid), { envelope: true, bodyStructure: true }, { uid: true }), 'live');
      } finally {
        lock.release();
      }
      // The second APPEND is read only after a restart.
      const cold = await a.append('Drafts', await draft('cold'));
      uid = (cold && cold.uid) as number;
    } finally {
      await Promise.all([a.logout(), b.logout()]);
    }

    const before = await storedEntry(uid);
    expect(before).toEqual(expect.any(String));
    gw = await startServe(config);
    const c = imap();
    await c.connect();
    try {
      const lock = await c.getMailboxLock('Drafts');
      try {
        expectDescribed(await c.fetchOne(String(uid), { envelope: true, bodyStructure: true }, { uid: true }), 'cold');
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
    // Not parsed again, not encrypted and written again: the entry committed with the APPEND served it.
    expect(await storedEntry(uid)).toBe(before);
  }, 180_000);
});
