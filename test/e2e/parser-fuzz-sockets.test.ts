/**
 * The fuzzed parsers through real sockets (the function-level suites are
 * test/message/forwarded-fuzz.test.ts, test/filing/receipt-fuzz.test.ts and
 * test/crypto/open-stream-fuzz.test.ts): an in-process gateway, nodemailer submitting over
 * STARTTLS, a raw TLS IMAP client. For each parser, damaged input gets a precise answer and the
 * gateway keeps serving the next client:
 *
 * - a forwarded S/MIME-signed message, damaged or with its signed text altered: accepted (250), filed
 *   "author not verified", never under the signer; the undamaged one under the signer;
 * - a hostile Disposition-Notification-To: accepted (250), and the one receipt owed (to the sender
 *   himself) a well-formed RFC 8098 report in his INBOX;
 * - large sealed messages altered on disk (bytes flipped, cut, re-ordered): the streamed FETCH stops
 *   mid-literal with the connection closed (never a complete literal), the next FETCH gets the
 *   unreadable-message notice with a tagged OK, and another message is still served whole.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawImap } from '../helpers/raw-imap.js';
import { flipBytes, fuzzCases, seededRandom, swapSlices } from '../helpers/fuzz.js';
import { JL, PASSWORD, PAUL, RMP, startSubmissionGateway, type SubmissionGateway } from '../smtp/fixtures/submission-gateway.js';
import { waitFor } from '../smtp/relay-fixture.js';

let gw: SubmissionGateway;

beforeAll(async () => {
  gw = await startSubmissionGateway({ store: 'sqlite', maxMessageBytes: 4 * 1024 * 1024 });
}, 180_000);

afterAll(async () => {
  await gw?.stop();
});

/** One submission as PAUL: the SMTP reply, whether it was accepted or refused. */
async function submit(raw: Buffer, to: string): Promise<{ code: number; response: string }> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port: gw.starttlsPort, secure: false, requireTLS: true,
    auth: { user: PAUL, pass: PASSWORD[PAUL]! }, tls: { ca: gw.caPem, servername: 'localhost' },
  });
  try {
    const info = await t.sendMail({ envelope: { from: PAUL, to: [to] }, raw });
    return { code: Number(info.response.slice(0, 3)), response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    if (!e.responseCode) throw err; // not an SMTP answer: the connection broke
    return { code: e.responseCode, response: e.response ?? e.message };
  } finally {
    t.close();
  }
}

/** The routing header of each message in the record server's INBOX (the filing key opens it, never the content). */
async function rmpRoutings() {
  const sealer = await gw.ctx.sealer();
  return Promise.all((await gw.mailbox(RMP, 'INBOX')).map(async (s) => (await sealer.openRouting(s)).routing));
}

describe('fuzzed parsers over real sockets', () => {
  it('a forwarded signed message, damaged: 250, the author verified only for the intact signature; the gateway keeps serving', async () => {
    const jl = gw.accounts[JL]!;
    const inner = Buffer.from([`From: ${JL}`, `To: ${PAUL}`, 'Subject: Avis cardiologique', 'Content-Type: text/plain; charset=utf-8', '', 'FEVG 60 %, pas de trouble de la cinétique.', ''].join('\r\n'));
    const signed = execFileSync('openssl', ['cms', '-sign', '-signer', jl.certFile, '-inkey', jl.keyFile, '-md', 'sha256'], { input: inner });
    const forward = (message: Buffer, subject: string) => new MailComposer({
      from: PAUL, to: RMP, subject: `PATIENT: DUPONT Jean 30/01/1959 ${subject}`, text: 'Pour le dossier.',
      attachments: [{ filename: 'avis.eml', content: message, contentType: 'message/rfc822' }],
    }).compile().build();
    const altered = Buffer.from(signed.toString('latin1').replace('FEVG 60', 'FEVG 30'), 'latin1');
    expect(altered.equals(signed)).toBe(false);
    const cases: Array<{ subject: string; raw: Buffer }> = [
      { subject: 'intact', raw: await forward(signed, 'intact') },
      { subject: 'altered', raw: await forward(altered, 'altered') },
    ];
    await fuzzCases(0x50c4e7, 4, async (random) => {
      const raw = await forward(signed, `damaged-${cases.length}`);
      const body = raw.indexOf('\r\n\r\n') + 4;
      cases.push({ subject: `damaged-${cases.length}`, raw: (random() < 0.5 ? flipBytes : swapSlices)(random, raw, body, raw.length) });
    });
    for (const c of cases) {
      const r = await submit(c.raw, RMP);
      // Damage the parser tolerates is accepted; what it cannot take is refused with an enhanced status code.
      expect(r.response, c.subject).toMatch(/^(250 |5\d\d \d\.\d\.\d+ )/);
      if (c.subject === 'intact' || c.subject === 'altered') expect(r.code, c.subject).toBe(250);
    }
    const routings = await waitFor(async () => {
      const all = await rmpRoutings();
      return all.some((r) => r.document.title?.endsWith('altered')) && all.some((r) => r.document.title?.endsWith('intact')) ? all : undefined;
    }, 30_000, 'the two forwarded messages filed');
    const authorOf = (title: string) => routings.find((r) => r.document.title?.endsWith(title))?.documents?.find((d) => d.part === 'avis.eml')?.author;
    expect(authorOf('intact')).toEqual({ source: 'smime', id: JL });
    expect(authorOf('altered')).toMatchObject({ source: 'forwarded' });
    // Damage outside the signed part leaves the signature whole: a verified author is only ever the signer, on the forwarded part.
    for (const r of routings) {
      for (const d of r.documents ?? []) if (d.author?.source === 'smime') expect({ part: d.part, id: d.author.id }).toEqual({ part: 'avis.eml', id: JL });
    }
    // A forwarded message under more MIME parts than the splitter takes: a precise permanent refusal, not a retry.
    const deep = Buffer.from(`From: ${PAUL}\r\nTo: ${RMP}\r\nSubject: PATIENT: DUPONT Jean 30/01/1959 profond\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n` +
      Array.from({ length: 3000 }, (_, i) => `--b${i}\r\nContent-Type: multipart/mixed; boundary=b${i + 1}\r\n\r\n`).join('') +
      `--b3000\r\nContent-Type: message/rfc822\r\n\r\n${signed.toString('latin1')}\r\n`, 'latin1');
    // (It was 451 4.3.0 "Temporary failure": the splitter's untyped EMAXLEN, and a client retrying for days.)
    expect((await submit(deep, RMP)).response).toMatch(/^554 5\.6\.0 .*\[MESSAGE_MALFORMED\]/);
    // Still serving: a plain message goes through.
    const plain = await new MailComposer({ from: PAUL, to: JL, subject: 'après', text: 'ok' }).compile().build();
    expect((await submit(plain, JL)).code).toBe(250);
  }, 120_000);

  it('a hostile Disposition-Notification-To: 250 each time; the receipt owed to the sender is a well-formed report', async () => {
    const random = seededRandom(0x4d4e);
    const hostile = [
      `${PAUL}\r\n\tBcc: victim@elsewhere.example`, `${'<'.repeat(3000)}${PAUL}`, `=?utf-8?Q?=0D=0ABcc:_x@y?= <${PAUL}>`,
      `"${'x'.repeat(5000)}" <${PAUL}>`, `${PAUL},`.repeat(300), `undisclosed:;`, randomBytes(200).toString('latin1').replace(/[\r\n]/g, ' '),
    ];
    const ids: string[] = [];
    for (const [i, value] of hostile.entries()) {
      const id = `<dnt-${i}-${Math.floor(random() * 1e9)}@cabinet-antony.medgate.test>`;
      ids.push(id);
      const raw = await new MailComposer({ from: PAUL, to: RMP, subject: 'PATIENT: DUPONT Jean 30/01/1959 Compte rendu', text: 'Compte rendu de consultation.', messageId: id, headers: { 'Disposition-Notification-To': value } }).compile().build();
      const r = await submit(raw, RMP);
      expect(r.code, `case ${i}: ${r.response}`).toBe(250);
    }
    // Every receipt that reached PAUL (those whose first address was his own) is one multipart/report with the listed fields.
    const receipts = await waitFor(async () => {
      const found = [];
      for (const sealed of await gw.mailbox(PAUL, 'INBOX')) {
        const text = (await gw.openAs(sealed, PAUL)).toString('latin1');
        if (/report-type="?disposition-notification/.test(text)) found.push(text);
      }
      // Cases 2, 3 and 4 name PAUL first, plainly: at least those three are owed.
      return found.length >= 3 ? found : undefined;
    }, 30_000, 'a receipt in the sender\'s INBOX');
    expect(receipts.length).toBeLessThanOrEqual(hostile.length);
    for (const text of receipts) {
      const parsed = await simpleParser(Buffer.from(text, 'latin1'));
      expect(parsed.bcc).toBeUndefined();
      expect(parsed.to && 'value' in parsed.to ? parsed.to.value.map((a) => a.address) : []).toEqual([PAUL]);
      const fields = parsed.attachments.find((a) => a.contentType === 'message/disposition-notification')!.content.toString('latin1');
      expect(fields.split('\r\n').filter((l) => /^[A-Za-z-]+:/.test(l)).map((l) => l.split(':')[0])).toEqual(
        expect.arrayContaining(['Reporting-UA', 'Final-Recipient', 'Original-Message-ID', 'Disposition']),
      );
      expect(ids).toContain(/^Original-Message-ID: (.*)$/m.exec(fields)![1]);
    }
    // A From field of 600 KB of addresses (folded lines): refused at once, where parsing it held the server for minutes.
    const list = Array.from({ length: 150 }, () => 'a@b.test,'.repeat(450)).join('\r\n ');
    const started = performance.now();
    const huge = await submit(Buffer.from(`From: ${PAUL}, ${list}\r\nTo: ${RMP}\r\nSubject: liste\r\n\r\ncorps\r\n`), RMP);
    expect(huge.response).toMatch(/^554 5\.6\.0 .*\[MESSAGE_ADDRESS_FIELD_TOO_LONG\]/);
    expect(performance.now() - started).toBeLessThan(10_000);
    const plain = await new MailComposer({ from: PAUL, to: JL, subject: 'après', text: 'ok' }).compile().build();
    expect((await submit(plain, JL)).code).toBe(250);
  }, 120_000);

  it('large sealed messages altered on disk: the streamed FETCH stops mid-literal, then the notice; the gateway keeps serving', async () => {
    const big = (i: number) => {
      const pdf = randomBytes(1_100_000).toString('base64').replace(/.{76}/g, '$&\r\n');
      return Buffer.from([`From: ${PAUL}`, `To: ${JL}`, `Subject: Scanner ${i}`, `Message-ID: <scan-${i}@cabinet-antony.medgate.test>`, 'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'Images jointes.', '--b',
        'Content-Type: application/pdf; name="scan.pdf"', 'Content-Transfer-Encoding: base64', '', pdf, '--b--', ''].join('\r\n'), 'latin1');
    };
    for (let i = 0; i < 4; i++) expect((await submit(big(i), JL)).code).toBe(250);
    const box = (await gw.store.mail.getMailbox(JL, 'INBOX'))!;
    const messages = (await gw.store.mail.listMessages(box.id)).filter((m) => m.sealedSize > 1024 * 1024);
    expect(messages.length).toBe(4);

    const login = async () => {
      const c = await RawImap.connect(gw.ports['imapTls']!, gw.caPem);
      expect((await c.command('l', `LOGIN ${JL} "${PASSWORD[JL]}"`)).at(-1)).toMatch(/^l OK/);
      expect((await c.command('s', 'SELECT INBOX')).at(-1)).toMatch(/^s OK/);
      return c;
    };
    // The first opening (facts, streamed) happens while the files are intact.
    const first = await login();
    expect((await first.command('u', 'UID FETCH 1:* (UID RFC822.SIZE)')).at(-1)).toMatch(/^u OK/);
    first.end();

    const fileOf = (blobId: string) => path.join(gw.config.dataDir, 'blobs', blobId.slice(0, 2), blobId);
    const random = seededRandom(0xd15c);
    const damage: Array<(b: Buffer) => Buffer> = [
      (b) => flipBytes(random, b, 3, b.indexOf('-----BEGIN PGP') + 200_000, b.length - 2000),
      (b) => b.subarray(0, Math.floor(b.length * 0.7)),
      (b) => swapSlices(random, b, b.indexOf('-----BEGIN PGP') + 100_000, b.length - 2000),
    ];
    for (const [i, edit] of damage.entries()) {
      const m = messages[i]!;
      const file = fileOf(m.blobId);
      fs.writeFileSync(file, edit(fs.readFileSync(file)));
      const c = await login();
      const r = await c.fetchBody(m.uid, 64);
      c.end();
      expect(r.received, `damage ${i}: never a complete literal`).toBeLessThan(r.size);
      expect(r.closed).toBe(true);
      expect(r.tagged).toBe('');
      // The next FETCH opens it whole and verifies before sending: the notice, a tagged OK.
      const again = await login();
      const res = await again.command('g', `UID FETCH ${m.uid} (BODY.PEEK[])`);
      again.end();
      expect(res.at(-1)).toMatch(/^g OK/);
      expect(res.join('\n')).toMatch(/Code: (CIPHERTEXT_TAMPERED|MALFORMED_STRUCTURE|ROUTING_CONTENT_MISMATCH|SIGNATURE_INVALID)/);
    }
    // The intact one is still served whole, with its tagged OK.
    const c = await login();
    const ok = await c.fetchBody(messages[3]!.uid, 64);
    c.end();
    expect(ok.received).toBe(ok.size);
    expect(ok.tagged).toMatch(/^f OK/);
    const audit = (await gw.auditRecords()).filter((a) => a.action === 'imap.fetch.stream-aborted');
    expect(audit.length).toBe(3);
  }, 180_000);
});
