import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedgateConfig } from '../../src/config/schema.js';
import { startServe, type ServeProcess } from '../helpers/gateway.js';
import { foundAtRest, storeBytesAtRest } from '../helpers/at-rest.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const RMP = 'rmp@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A doctor's letter with a PDF, the patient typed in the subject as Outlook users do. */
async function buildLetter(n: number): Promise<{ raw: Buffer; pdf: Buffer }> {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + n) & 0xff)), Buffer.from('\n%%EOF\n')]);
  const raw = await new MailComposer({
    from: `"Dr Paul DEMO" <${PAUL}>`,
    to: JL,
    subject: `PATIENT: DUPONT Jean 30/01/1959 - courrier ${n}`,
    messageId: `<letter-${n}@cabinet-antony.medgate.test>`,
    text: `Cher confrère,\n\nje vous adresse M. DUPONT (lettre ${n}).\n`,
    attachments: [{ filename: 'ecg.pdf', content: pdf, contentType: 'application/pdf' }],
  }).compile().build();
  // SMTP carries CRLF lines and a final CRLF: shape the original so, to compare byte for byte.
  const crlf = Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/(\r\n)?$/, '\r\n'), 'latin1');
  return { raw: crlf, pdf };
}

describe('SMTP in, IMAP out: a doctor reads sealed mail decrypted in Thunderbird-like clients', () => {
  let gw: ServeProcess;
  let ca: string;
  let config: MedgateConfig;
  let dispose: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    // `medgate init`, the directory imports and the three `user add`, through the services those
    // commands call; then served by a real `medgate serve`.
    const prepared = await prepareForServe({
      store: 'sqlite',
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }, { address: RMP, kind: 'rmp', password: PW }],
    });
    dispose = prepared.dispose;
    config = prepared.config;
    ca = fs.readFileSync(prepared.caFile, 'utf8');
    gw = await startServe(prepared.configFile);
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
    await dispose();
  });

  const imapClient = (user: string) => new ImapFlow({
    host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false,
    tls: { ca, servername: 'localhost' }, auth: { user, pass: PW },
  });

  const submit = async (raw: Buffer, to = [JL]) => {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission, secure: false, requireTLS: true,
      tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW },
    });
    try {
      return await t.sendMail({ envelope: { from: PAUL, to }, raw });
    } finally {
      t.close();
    }
  };

  it('a submitted message is read back decrypted, byte-identical, with the verdict and a patient folder', async () => {
    const { raw, pdf } = await buildLetter(1);
    const info = await submit(raw);
    expect(info.response).toMatch(/^250 /);

    const client = imapClient(JL);
    await client.connect().catch((e) => { throw new Error(`connect: ${(e as { responseText?: string }).responseText ?? e}\n${gw.logs.filter((l) => /"level":(4|5)/.test(l)).join('\n')}`); });
    try {
      const list = await client.list();
      const names = list.map((m) => m.path);
      expect(names).toEqual(expect.arrayContaining(['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Patients/DUPONT Jean (1959-01-30)']));
      expect(list.find((m) => m.path === 'Sent')?.specialUse).toBe('\\Sent');

      const lock = await client.getMailboxLock('INBOX');
      try {
        const msg = await client.fetchOne('*', { source: true, envelope: true, bodyStructure: true, size: true, uid: true });
        expect(msg).toBeTruthy();
        if (!msg) return;
        expect(msg.envelope?.subject).toBe('PATIENT: DUPONT Jean 30/01/1959 - courrier 1');
        const source = msg.source!;
        const text = source.toString('utf8');
        expect(text).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test; fingerprint=[0-9a-f]{40}\r\n/);
        expect(text).toMatch(/\r\nX-Medgate-Signer: Paul DEMO, =\?UTF-8\?Q\?M=C3=A9decin=2C_M=C3=A9decine_g=C3=A9n=C3=A9rale\?=.* id 810100000017\r\n/);
        // After medgate's verdict fields, the original message, byte for byte.
        const prefixEnd = source.indexOf('\r\n', source.indexOf('X-Medgate-Signer:')) + 2;
        const got = source.subarray(prefixEnd);
        if (!got.equals(raw)) {
          let i = 0; while (i < got.length && got[i] === raw[i]) i++;
          console.log('lengths', got.length, raw.length, 'first diff at', i, JSON.stringify(got.subarray(i - 40, i + 40).toString('latin1')), JSON.stringify(raw.subarray(i - 40, i + 40).toString('latin1')));
        }
        expect(sha(source.subarray(prefixEnd))).toBe(sha(raw));
        expect(msg.size).toBe(source.length);
        const pdfPart = msg.bodyStructure?.childNodes?.find((n) => n.type === 'application/pdf');
        expect(pdfPart).toBeTruthy();
        const { content } = await client.download(String(msg.uid), pdfPart!.part, { uid: true });
        const chunks: Buffer[] = [];
        for await (const c of content) chunks.push(c as Buffer);
        expect(sha(Buffer.concat(chunks))).toBe(sha(pdf));
      } finally {
        lock.release();
      }
      const patient = await client.status('Patients/DUPONT Jean (1959-01-30)', { messages: true });
      expect(patient.messages).toBe(1);
    } finally {
      await client.logout();
    }

    // The database never holds the patient's name: not in mailbox names, not in the cache.
    const atRest = await storeBytesAtRest(config);
    expect(foundAtRest(atRest, 'DUPONT'), 'patient name in the database').toBe(false);
    expect(foundAtRest(atRest, 'courrier 1'), 'subject in the database').toBe(false);
  });

  it('the sender finds his Sent copy decrypted; ENVELOPE and size are the same in a new session', async () => {
    const first = imapClient(PAUL);
    await first.connect();
    let seen: { size?: number; subject?: string } = {};
    try {
      await first.mailboxOpen('Sent');
      const m = await first.fetchOne('*', { envelope: true, size: true });
      seen = { size: m ? m.size : undefined, subject: m ? m.envelope?.subject : undefined };
      expect(seen.subject).toBe('PATIENT: DUPONT Jean 30/01/1959 - courrier 1');
    } finally {
      await first.logout();
    }
    const second = imapClient(PAUL);
    await second.connect();
    try {
      await second.mailboxOpen('Sent');
      const m = await second.fetchOne('*', { envelope: true, size: true });
      expect({ size: m ? m.size : undefined, subject: m ? m.envelope?.subject : undefined }).toEqual(seen);
    } finally {
      await second.logout();
    }
  });

  it('IDLE receives EXISTS when new mail arrives; flags made in one session show in another', async () => {
    const watcher = imapClient(JL);
    const other = imapClient(JL);
    await watcher.connect();
    await other.connect();
    try {
      await watcher.mailboxOpen('INBOX');
      const before = watcher.mailbox ? (watcher.mailbox as { exists: number }).exists : 0;
      const exists = new Promise<number>((resolve) => watcher.on('exists', (d: { count: number }) => resolve(d.count)));
      void watcher.idle().catch(() => undefined);
      const { raw } = await buildLetter(2);
      await submit(raw);
      expect(await exists).toBe(before + 1);

      const flagged = new Promise<{ flags: Set<string> }>((resolve) => watcher.on('flags', resolve));
      await other.mailboxOpen('INBOX');
      await other.messageFlagsAdd('1', ['\\Flagged']);
      expect([...(await flagged).flags]).toContain('\\Flagged');
    } finally {
      await watcher.logout();
      await other.logout();
    }
  });

  it('a message appended by the client is stored sealed and reads back identical', async () => {
    const draft = Buffer.from('From: jl.letest@cabinet-antony.medgate.test\r\nTo: paul.demo@cabinet-antony.medgate.test\r\nSubject: brouillon MARTIN Alice\r\n\r\nDraft body\r\n');
    const client = imapClient(JL);
    await client.connect();
    try {
      const res = await client.append('Drafts', draft, ['\\Draft']);
      expect(res).toBeTruthy();
      await client.mailboxOpen('Drafts');
      const m = await client.fetchOne('*', { source: true, flags: true });
      // The user's own copy comes back exactly as appended (RFC 3501 §6.3.11): no verdict above it.
      expect(m && m.source!.equals(draft)).toBe(true);
    } finally {
      await client.logout();
    }
    // A later session has no copy in memory: it decrypts the sealed one, and gets the same bytes.
    const again = imapClient(JL);
    await again.connect();
    try {
      await again.mailboxOpen('Drafts');
      const m = await again.fetchOne('*', { source: true, size: true });
      expect(m && m.source!.equals(draft)).toBe(true);
      expect(m && m.size).toBe(draft.length);
    } finally {
      await again.logout();
    }
    expect(foundAtRest(await storeBytesAtRest(config), 'brouillon MARTIN')).toBe(false);
  });

  it('a record server reads clear, verified routing fields over a still-sealed body', async () => {
    const { raw } = await buildLetter(3);
    await submit(raw, [RMP]);
    const client = imapClient(RMP);
    await client.connect();
    try {
      await client.mailboxOpen('INBOX');
      const m = await client.fetchOne('*', { source: true, headers: true });
      const text = m ? m.source!.toString('latin1') : '';
      expect(text).toMatch(/^X-Medgate-Route-Verified: valid; signer=paul\.demo@cabinet-antony\.medgate\.test; fingerprint=[0-9a-f]{40}\r\n/);
      expect(text).toContain('X-Medgate-Route-Patient-Family: DUPONT\r\n');
      expect(text).toContain('X-Medgate-Route-Patient-Given: Jean\r\n');
      expect(text).toContain('X-Medgate-Route-Patient-Birthdate: 1959-01-30\r\n');
      expect(text).toContain('X-Medgate-Route-Sender-Role: general-practitioner\r\n');
      expect(text).toMatch(/X-Medgate-Route-Document-Type: \S+\r\n/);
      const body = text.slice(text.indexOf('\r\n\r\n'));
      expect(text).toMatch(/multipart\/encrypted/);
      expect(body).not.toContain('courrier 3');
      expect(body).not.toContain('DUPONT');
    } finally {
      await client.logout();
    }
  });
});
