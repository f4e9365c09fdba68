/**
 * One Sent copy (issue 31), as Thunderbird and Outlook do it, on the real gateway and on BOTH
 * stores: nodemailer submits a message, then imapflow APPENDs the same bytes to Sent. The gateway
 * filed its own copy at submission; the APPEND is answered with APPENDUID naming that copy and Sent
 * holds one message. The rule for a client copy that differs (docs/clients.md, "One Sent copy"):
 * both are kept, the client's byte for byte — checked with the same Message-ID and another body,
 * and with the Bcc field a client keeps in its own copy but never sends.
 */
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';


/** A letter with a PDF and accented text, built once as a mail client does (bare LF lines, as MailComposer writes them). */
async function letter(id: string, text: string, extra: { bcc?: string } = {}): Promise<Buffer> {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 13 + id.length) & 0xff)), Buffer.from('\n%%EOF\n')]);
  const mail = new MailComposer({
    from: `"Dr Paul DEMO" <${PAUL}>`, to: JL, ...(extra.bcc ? { bcc: extra.bcc } : {}),
    subject: 'Compte rendu de consultation', messageId: `<${id}@cabinet-antony.medgate.test>`,
    date: new Date('2026-12-07T08:00:00Z'), text,
    attachments: [{ filename: 'compte-rendu.pdf', content: pdf, contentType: 'application/pdf' }],
  }).compile();
  // The copy a client keeps for itself carries the Bcc field; the one it submits does not.
  (mail as unknown as { keepBcc: boolean }).keepBcc = true;
  return mail.build();
}

describeOnStores('one Sent copy: submit with nodemailer, then APPEND the same bytes with imapflow', (store) => {
  let ca: string;
  let gw: InProcessGateway;

  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [
      { address: PAUL, kind: 'person', rpps: '10100000017', password: PW },
      { address: JL, kind: 'person', rpps: '10100000041', password: PW },
    ] });
    ca = gw.caPem;
  }, 240_000);

  afterAll(async () => { await gw?.stop(); });

  const imap = (): ImapFlow => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    return c;
  };

  /** As a client submits: the message without its Bcc field (nodemailer drops it), Bcc in the envelope. */
  const submit = async (raw: Buffer, bcc: string[] = []): Promise<void> => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmission, secure: false, requireTLS: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    try {
      const sent = raw.toString('latin1').replace(/^Bcc:.*\r?\n/im, '');
      const info = await t.sendMail({ envelope: { from: PAUL, to: [JL, ...bcc] }, raw: Buffer.from(sent, 'latin1') });
      expect(info.rejected).toEqual([]);
    } finally {
      t.close();
    }
  };

  /** Sent's messages: UID and the body the client reads, with the Message-ID. */
  const sentCopies = async (c: ImapFlow): Promise<Array<{ uid: number; source: string }>> => {
    const lock = await c.getMailboxLock('Sent');
    try {
      const out: Array<{ uid: number; source: string }> = [];
      for await (const m of c.fetch('1:*', { uid: true, source: true })) out.push({ uid: m.uid, source: m.source!.toString('latin1') });
      return out;
    } finally {
      lock.release();
    }
  };
  const withId = (copies: Array<{ uid: number; source: string }>, id: string) => copies.filter((m) => m.source.includes(`<${id}@`));

  it('the same bytes: APPEND answers OK [APPENDUID] with the copy the gateway filed, and Sent keeps one', async () => {
    const raw = await letter('same-bytes', 'Cher confrère,\n\nje vous adresse Mme Lefèvre, vue ce jour.\n');
    await submit(raw);
    const c = imap();
    await c.connect();
    try {
      const before = withId(await sentCopies(c), 'same-bytes');
      expect(before).toHaveLength(1);
      const res = await c.append('Sent', raw, ['\\Seen', '$Label1']);
      expect(res && res.uid).toBe(before[0]!.uid);
      const after = withId(await sentCopies(c), 'same-bytes');
      expect(after.map((m) => m.uid)).toEqual([before[0]!.uid]);
      // The client's flag is added to the copy kept.
      const lock = await c.getMailboxLock('Sent');
      try {
        const m = await c.fetchOne(String(before[0]!.uid), { flags: true }, { uid: true });
        expect(m && [...m.flags!]).toEqual(expect.arrayContaining(['\\Seen', '$Label1']));
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
  }, 120_000);

  it('two connections APPENDing the same bytes at once both name the gateway\'s copy: still one', async () => {
    const raw = await letter('racing', 'Bonjour,\n\nrésultats de la biologie joints.\n');
    await submit(raw);
    const a = imap();
    const b = imap();
    await Promise.all([a.connect(), b.connect()]);
    try {
      const [ra, rb] = await Promise.all([a.append('Sent', raw, ['\\Seen']), b.append('Sent', raw, ['\\Seen'])]);
      const copies = withId(await sentCopies(a), 'racing');
      expect(copies).toHaveLength(1);
      expect([ra && ra.uid, rb && rb.uid]).toEqual([copies[0]!.uid, copies[0]!.uid]);
    } finally {
      await Promise.all([a.logout(), b.logout()]);
    }
  }, 120_000);

  it('same Message-ID, other content: both kept, the client\'s copy byte for byte', async () => {
    const submitted = await letter('edited', 'Cher confrère,\n\nversion envoyée.\n');
    const edited = await letter('edited', 'Cher confrère,\n\nversion corrigée après envoi.\n');
    await submit(submitted);
    const c = imap();
    await c.connect();
    try {
      const before = withId(await sentCopies(c), 'edited');
      expect(before).toHaveLength(1);
      const res = await c.append('Sent', edited, ['\\Seen']);
      expect(res && res.uid).toBeGreaterThan(before[0]!.uid);
      const after = withId(await sentCopies(c), 'edited');
      expect(after.map((m) => m.uid)).toEqual([before[0]!.uid, res && res.uid]);
      // Served exactly as appended (CRLF line endings, as IMAP serves every message).
      expect(after[1]!.source).toBe(edited.toString('latin1').replace(/\r?\n/g, '\r\n'));
      expect(after[0]!.source).toContain('version envoy');
    } finally {
      await c.logout();
    }
  }, 120_000);

  it('the client\'s copy carries the Bcc field it did not send: both kept, the Bcc recipients stay visible', async () => {
    const raw = await letter('with-bcc', 'Chère consœur,\n\nen copie cachée à la secrétaire.\n', { bcc: JL });
    expect(raw.toString('latin1')).toMatch(/^Bcc: /m);
    await submit(raw, [JL]);
    const c = imap();
    await c.connect();
    try {
      await c.append('Sent', raw, ['\\Seen']);
      const copies = withId(await sentCopies(c), 'with-bcc');
      expect(copies).toHaveLength(2);
      expect(copies.filter((m) => /^Bcc: /m.test(m.source))).toHaveLength(1);
    } finally {
      await c.logout();
    }
  }, 120_000);
});
