/**
 * A person's APPENDed copies are sealed under his account key (docs/secure-message-format.md §5.2),
 * on both stores, with imapflow over TLS against the in-process gateway; what is stored is read
 * through the store's interfaces:
 * - the stored copy is in the account-key form and holds nothing of the message in clear (patient
 *   name, subject words, attachment bytes), not even an outer From, Date or Subject;
 * - after a restart (nothing in memory) a new session FETCHes exactly the bytes appended, a small
 *   draft and a 1.5 MB one (above the size where delivered mail is streamed);
 * - `medgate message open` (its service, and the command run on the store) opens the copy as its
 *   owner; another account cannot, with a typed error and nothing of the message;
 * - a copy altered at rest is served as the unreadable-message notice naming CIPHERTEXT_TAMPERED,
 *   the session goes on, and the intact copies still open;
 * - an APPEND whose MIME parse fails half-way is answered and the gateway stays up;
 * - an own copy's cached "stored by the owner" facts moved (by someone who can write the store) onto a
 *   colleague's message do not take that message's verdict away nor let its forged verdict through.
 */
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/gateway.js';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

function draft(id: string, extra = Buffer.alloc(0)): Buffer {
  const head = [
    `From: "Dr Paul DEMO" <${PAUL}>`, `To: ${JL}`, `Subject: Résumé médical DUPONT Jean ${id}`,
    `Message-ID: <${id}@cabinet-antony.medgate.test>`, 'Date: Mon, 07 Dec 2026 08:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"', '', '--b1', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
    'Patient DUPONT Jean, né le 30/01/1959, INS 159018002121980. Allergie pénicilline.', '--b1',
    'Content-Type: application/octet-stream; name="cr.bin"', 'Content-Transfer-Encoding: base64', '', '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'utf8'), Buffer.from(extra.toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n--b1--\r\n', 'latin1')]);
}

describeOnStores('own copies at rest under the account key', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({
      store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }],
    });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  const imap = (): ImapFlow => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    return c;
  };

  it('stores nothing in clear, opens after a restart, opens for its owner only, and shows damage as a notice', async () => {
    const attachment = randomBytes(2000);
    const small = draft('small', attachment);
    const large = draft('large', randomBytes(1_100_000));
    expect(large.length).toBeGreaterThan(1024 * 1024);
    const a = imap();
    await a.connect();
    try {
      await a.append('Drafts', small);
      await a.append('Drafts', large);
    } finally {
      await a.logout();
    }

    const stored = await gw.mailbox(PAUL, 'Drafts');
    expect(stored).toHaveLength(2);
    for (const sealed of stored) {
      const head = sealed.subarray(0, sealed.indexOf('\r\n\r\n')).toString('latin1');
      expect(head).toMatch(/^X-Medgate-Format: medgate\/1; body=own-aead$/m);
      expect(head).not.toMatch(/^(from|to|date|subject|message-id):/im);
      for (const clear of ['DUPONT', 'Résumé', 'pénicilline', '159018002121980', PAUL, attachment.subarray(0, 24).toString('base64')]) {
        expect(sealed.includes(Buffer.from(clear, 'utf8')), clear).toBe(false);
      }
      expect(sealed.includes(attachment.subarray(100, 132))).toBe(false);
    }
    // The owner opens it (the service `medgate message open` runs, and the command itself, on this
    // store, the copy on standard input); another account cannot.
    expect((await gw.open(stored[0]!, PAUL, PW)).equals(small)).toBe(true);
    const cliOpen = await runCli(['message', 'open', '--as', PAUL, '--password', PW, '--config', gw.configFile], { input: stored[0]! });
    expect(cliOpen.code, cliOpen.stderr).toBe(0);
    expect(cliOpen.stdout).toBe(small.toString('utf8'));
    expect(cliOpen.stderr).toMatch(/own copy of paul\.demo@cabinet-antony\.medgate\.test: authenticated with its account key/);
    const cliOther = await runCli(['message', 'open', '--as', JL, '--password', PW, '--config', gw.configFile], { input: stored[0]! });
    expect(cliOther.code).not.toBe(0);
    expect(cliOther.stdout).toBe('');
    expect(cliOther.stderr).toMatch(/NOT_FOR_THIS_KEY|CIPHERTEXT_TAMPERED/);
    expect(cliOther.stderr).not.toMatch(/DUPONT|pénicilline/);
    await expect(gw.open(stored[0]!, JL, PW)).rejects.toMatchObject({ code: expect.stringMatching(/^(CIPHERTEXT_TAMPERED|NOT_FOR_THIS_KEY)$/) });

    // A copy altered at rest (one byte of its ciphertext), filed beside them through the store.
    const damaged = Buffer.from(stored[0]!);
    damaged[damaged.length - 40] ^= 0x20;
    await gw.store.mail.commit(damaged, [{ owner: PAUL, mailbox: 'Drafts', deliveryKey: 'damaged-own-copy' }]);

    await gw.restart();
    const b = imap();
    await b.connect();
    try {
      await b.mailboxOpen('Drafts');
      const got = new Map<number, Buffer>();
      for await (const m of b.fetch('1:*', { source: true, uid: true })) got.set(m.seq, m.source!);
      expect(got.get(1)!.equals(small)).toBe(true);
      expect(got.get(2)!.equals(large)).toBe(true);
      expect(got.get(3)!.toString('utf8')).toMatch(/Code: CIPHERTEXT_TAMPERED/);
      expect(got.get(3)!.includes(Buffer.from('DUPONT'))).toBe(false);
      // The session goes on.
      expect((await b.status('Drafts', { messages: true })).messages).toBe(3);
    } finally {
      await b.logout();
    }
  }, 120_000);

  it('a cached own-copy entry moved onto a colleague\'s message: the message keeps its verdict', async () => {
    // JL writes to Paul, with a forged verdict line of his own in the message.
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmission, secure: false, requireTLS: true, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: JL, pass: PW } });
    try {
      await t.sendMail({ from: JL, to: PAUL, subject: 'Avis', text: 'Bonjour Paul.', headers: { 'X-Medgate-Signature': 'valid; signer=chef@chu.test; fingerprint=00' } });
    } finally {
      t.close();
    }
    const c = imap();
    await c.connect();
    let ownUid: number;
    try {
      ownUid = ((await c.append('Drafts', draft('moved'))) as { uid: number }).uid;
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne('*', { source: true });
      expect(m && m.source!.toString()).toMatch(/^X-Medgate-Signature: valid; signer=jl\.letest@/);
    } finally {
      await c.logout();
    }
    const inbox = (await gw.store.mail.getMailbox(PAUL, 'INBOX'))!;
    const delivered = (await gw.store.mail.listMessages(inbox.id)).at(-1)!;
    const drafts = (await gw.store.mail.getMailbox(PAUL, 'Drafts'))!;
    const own = (await gw.store.mail.getMessage(drafts.id, ownUid))!;
    const ownEntry = await gw.store.mail.getMeta(PAUL, own.blobId);
    expect(ownEntry).toEqual(expect.any(String));
    await gw.store.mail.putMeta(PAUL, delivered.blobId, ownEntry!);

    await gw.restart();
    const b = imap();
    await b.connect();
    try {
      await b.mailboxOpen('INBOX');
      const m = await b.fetchOne(String(delivered.uid), { source: true }, { uid: true });
      const text = m && m.source!.toString();
      expect(text).toMatch(/^X-Medgate-Signature: valid; signer=jl\.letest@/);
      expect(text).toMatch(/^X-Untrusted-Medgate-Signature: valid; signer=chef@chu\.test/m);
    } finally {
      await b.logout();
    }
  }, 60_000);

  it('answers an APPEND whose MIME parse fails half-way and stays up (a 1.1 MiB header block; 1005 parts and an attachment)', async () => {
    const header = Buffer.concat([Buffer.from(`From: ${PAUL}\r\nSubject: long\r\nX-Long: `), Buffer.alloc(1_150_000, 0x61), Buffer.from('\r\n\r\nbody\r\n')]);
    let parts = 'Subject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n';
    for (let i = 0; i < 1005; i++) parts += '--b\r\nContent-Type: text/plain\r\n\r\nx\r\n';
    parts += `--b\r\nContent-Type: application/octet-stream\r\n\r\n${'A'.repeat(600_000)}\r\n--b--\r\n`;
    const c = imap();
    await c.connect();
    try {
      for (const raw of [header, Buffer.from(parts)]) {
        // Before the fix the splitter's error was an unhandled rejection on the main thread: the
        // process (here, this test's) ended. Now the copy is stored, with an opaque structure.
        const res = await c.append('Drafts', raw);
        const uid = (res as { uid: number }).uid;
        await c.mailboxOpen('Drafts');
        const m = await c.fetchOne(String(uid), { source: true, bodyStructure: true }, { uid: true });
        expect(m && m.source!.equals(raw)).toBe(true);
      }
      expect(await c.noop()).toBeUndefined();
    } finally {
      await c.logout();
    }
  }, 60_000);
});
