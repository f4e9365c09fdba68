/**
 * IMAP state exactness on the real gateway (encrypted store, its asynchronous change notifications):
 * EXISTS for our own APPEND/COPY before the tagged OK, \Recent per session, own copies served byte
 * for byte, CRLF line endings whatever the submitter sent, and a client model that stays exact while
 * another session appends, flags and expunges. On SQLite and on PostgreSQL, on a gateway built in
 * this process as `serve` builds it (accounts through the services).
 */
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { RawClient } from './harness.js';
import { readWhileOthersWrite, WireModel } from './wire-model.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

/** The gateway of the suite running (one per store, one after the other). */
let gw: InProcessGateway;
let ca: Buffer;
const open: Array<{ destroy(): void }> = [];

async function raw(user = JL): Promise<RawClient> {
  const c = await RawClient.tls(gw.ports.imapTls!);
  open.push(c);
  expect(await c.command('l', `LOGIN "${user}" "${PW}"`)).toMatch(/^l OK/m);
  return c;
}

function flow(model?: WireModel, user = JL): ImapFlow {
  const feed = (entry: { src?: string; msg?: string }): void => {
    if (!model || typeof entry?.msg !== 'string') return;
    if (entry.src === 'c' && !entry.msg.startsWith('(')) model.start(entry.msg);
    else if (entry.src === 's') model.untagged(entry.msg);
  };
  const logger = { trace: feed, debug: feed, info: () => {}, warn: () => {}, error: () => {} };
  const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger, tls: { ca: ca.toString(), servername: 'localhost' }, auth: { user, pass: PW } });
  c.on('error', () => {});
  return c;
}

function message(subject: string, body: string, eol = '\r\n'): Buffer {
  return Buffer.from([`From: ${JL}`, `To: ${PAUL}`, `Subject: ${subject}`, 'Date: Tue, 03 Mar 2026 09:30:00 +0100',
    `Message-ID: <${Math.random().toString(36).slice(2)}@cabinet-antony.medgate.test>`, 'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit', '', body, ''].join(eol));
}


/** Authenticated submission with a message sent exactly as given (bare LF included), over implicit TLS. */
async function smtpRaw(data: Buffer): Promise<void> {
  const socket = tls.connect({ host: '127.0.0.1', port: gw.ports.smtpSubmissionTls!, ca, servername: 'localhost' });
  let buffer = '';
  const replies: string[] = [];
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
  });
  const reply = async (): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const done = /(^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buffer);
      if (done) {
        const text = buffer;
        buffer = '';
        replies.push(text);
        return text;
      }
      if (Date.now() > deadline) throw new Error(`SMTP timeout: ${replies.join('')}${buffer}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const send = async (line: string | Buffer, expected: RegExp): Promise<void> => {
    socket.write(line);
    const text = await reply();
    if (!expected.test(text)) throw new Error(`SMTP ${String(line).slice(0, 40)} -> ${text}`);
  };
  try {
    expect(await reply()).toMatch(/^220/);
    await send('EHLO client.example\r\n', /^250/m);
    await send(`AUTH PLAIN ${Buffer.from(`\0${PAUL}\0${PW}`).toString('base64')}\r\n`, /^235/);
    await send(`MAIL FROM:<${PAUL}>\r\n`, /^250/);
    await send(`RCPT TO:<${JL}>\r\n`, /^250/);
    await send('DATA\r\n', /^354/);
    await send(Buffer.concat([data, Buffer.from('\r\n.\r\n')]), /^250/);
    socket.write('QUIT\r\n');
  } finally {
    socket.end();
  }
}

/** Waits until JL's INBOX holds a message with this subject; returns its UID. */
async function arrived(c: ImapFlow, subject: string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    await c.noop();
    const found = (await c.search({ subject }, { uid: true })) || [];
    if (found.length > 0) return found[0]!;
    if (Date.now() > deadline) throw new Error(`${subject} never arrived`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bareLf = (b: Buffer): boolean => /(^|[^\r])\n/.test(b.toString('latin1'));

describeOnStores('IMAP state on the real encrypted store', (store) => {
  beforeAll(async () => {
    gw = await startInProcessGateway({
      store, whitelist: false,
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }],
    });
    ca = Buffer.from(gw.caPem);
  }, 180_000);

  afterAll(async () => {
    open.splice(0).forEach((c) => c.destroy());
    await gw?.stop();
  });

  it('APPEND and COPY into the selected mailbox answer EXISTS and RECENT before the tagged OK', async () => {
    const c = await raw();
    expect(await c.command('c1', 'CREATE Etat')).toMatch(/^c1 OK/m);
    const selected = await c.command('c2', 'SELECT Etat');
    const validity = /UIDVALIDITY (\d+)/.exec(selected)![1];
    const m = message('own append', 'un message à moi');
    c.write(Buffer.concat([Buffer.from(`c3 APPEND Etat {${m.length}+}\r\n`), m, Buffer.from('\r\n')]));
    const appended = await c.waitFor(/^c3 (OK|NO|BAD).*\r\n/m);
    expect(appended).toMatch(new RegExp(`^\\* 1 EXISTS\\r\\n\\* 1 RECENT\\r\\nc3 OK \\[APPENDUID ${validity} 1\\]`, 'm'));
    expect(await c.command('c4', 'COPY 1 Etat')).toMatch(new RegExp(`^\\* 2 EXISTS\\r\\n\\* 2 RECENT\\r\\nc4 OK \\[COPYUID ${validity} 1 2\\]`, 'm'));
    expect(await c.command('c5', 'UID COPY 1:2 Etat')).toMatch(new RegExp(`^\\* 4 EXISTS\\r\\n\\* 4 RECENT\\r\\nc5 OK \\[COPYUID ${validity} 1:2 3:4\\]`, 'm'));
    expect(await c.command('c6', 'UID SEARCH ALL')).toMatch(/^\* SEARCH 1 2 3 4\r\n/m);
    expect(await c.command('c7', 'LOGOUT')).toMatch(/^\* BYE .*\r\nc7 OK/m);
  });

  it('\\Recent belongs to the first session that selects; a second session of the account gets 0 RECENT', async () => {
    const a = await raw();
    const b = await raw();
    expect(await a.command('a1', 'CREATE Recents')).toMatch(/^a1 OK/m);
    const m = message('recent one', 'r');
    a.write(Buffer.concat([Buffer.from(`a2 APPEND Recents {${m.length}+}\r\n`), m, Buffer.from('\r\n')]));
    expect(await a.waitFor(/^a2 OK.*\r\n/m)).not.toMatch(/EXISTS/);
    expect(await b.command('b1', 'STATUS Recents (MESSAGES RECENT)')).toMatch(/\(MESSAGES 1 RECENT 1\)/);
    expect(await b.command('b2', 'EXAMINE Recents')).toMatch(/^\* 1 RECENT\r\n/m);
    expect(await a.command('a3', 'SELECT Recents')).toMatch(/^\* 1 RECENT\r\n/m);
    expect(await a.command('a4', 'FETCH 1 (FLAGS)')).toMatch(/^\* 1 FETCH \(FLAGS \(\\Recent\)\)/m);
    expect(await a.command('a5', 'SEARCH RECENT')).toMatch(/^\* SEARCH 1\r\n/m);
    expect(await b.command('b3', 'SELECT Recents')).toMatch(/^\* 0 RECENT\r\n/m);
    expect(await b.command('b4', 'FETCH 1 (FLAGS)')).toMatch(/^\* 1 FETCH \(FLAGS \(\)\)/m);
    expect(await b.command('b5', 'SEARCH OLD')).toMatch(/^\* SEARCH 1\r\n/m);
    expect(await b.command('b6', 'STATUS INBOX (RECENT)')).toMatch(/RECENT \d+\)/);

    // Arriving while only a has the mailbox selected: recent for a.
    expect(await b.command('b7', 'UNSELECT')).toMatch(/^b7 OK/m);
    const m2 = message('recent two', 'r2');
    b.write(Buffer.concat([Buffer.from(`b8 APPEND Recents {${m2.length}+}\r\n`), m2, Buffer.from('\r\n')]));
    await b.waitFor(/^b8 OK.*\r\n/m);
    expect(await a.command('a6', 'NOOP')).toMatch(/^\* 2 EXISTS\r\n\* 2 RECENT\r\n/m);
    expect(await b.command('b9', 'SELECT Recents')).toMatch(/^\* 0 RECENT\r\n/m);
    await a.command('a7', 'LOGOUT');
    await b.command('b10', 'LOGOUT');
  });

  it('serves a message the client APPENDed byte for byte (no verdict above its own copy), RFC822.SIZE its length', async () => {
    const c = flow();
    await c.connect();
    try {
      for (const folder of ['Drafts', 'Sent', 'INBOX']) {
        const original = message(`byte exact ${folder}`, 'Ligne accentuée é\r\n\r\nX-Not-A-Header: body\r\n.leading dot\r\n  indented');
        const done = await c.append(folder, original, ['\\Seen']);
        const lock = await c.getMailboxLock(folder);
        try {
          const got = await c.fetchOne(String(done && done.uid), { source: true, size: true }, { uid: true });
          expect(got && got.source!.toString('latin1'), folder).toBe(original.toString('latin1'));
          expect(got && Buffer.compare(got.source!, original), folder).toBe(0);
          expect(got && got.size, folder).toBe(original.length);
        } finally {
          lock.release();
        }
      }
    } finally {
      await c.logout();
    }
  });

  it('serves a bare-LF APPEND with CRLF line endings, RFC822.SIZE its served length', async () => {
    const c = flow();
    await c.connect();
    try {
      const lf = message('bare lf append', 'one\ntwo\n\nthree', '\n');
      expect(lf.includes('\r')).toBe(false);
      const done = await c.append('Drafts', lf);
      await c.mailboxOpen('Drafts');
      const got = await c.fetchOne(String(done && done.uid), { source: true, size: true }, { uid: true });
      const source = got ? got.source! : Buffer.alloc(0);
      expect(bareLf(source)).toBe(false);
      expect(source.toString('latin1')).toContain(lf.toString('latin1').replace(/\n/g, '\r\n'));
      expect(got && got.size).toBe(source.length);
    } finally {
      await c.logout();
    }
  });

  it('mail submitted with bare LF (nodemailer raw, and raw SMTP) is served with CRLF only, RFC822.SIZE its length', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmissionTls, secure: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    const rawLf = (subject: string): string => [`From: ${PAUL}`, `To: ${JL}`, `Subject: ${subject}`, 'Date: Tue, 03 Mar 2026 09:30:00 +0100', 'Content-Type: text/plain; charset=utf-8', '', 'premiere ligne', 'deuxieme ligne', '', 'fin', ''].join('\n');
    await t.sendMail({ envelope: { from: PAUL, to: [JL] }, raw: rawLf('bare lf nodemailer') });
    t.close();
    // nodemailer turns bare LF into CRLF on the wire; this one really sends bare LF in DATA.
    await smtpRaw(Buffer.from(rawLf('bare lf socket')));
    const c = flow();
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      for (const subject of ['bare lf nodemailer', 'bare lf socket']) {
        const uid = await arrived(c, subject);
        const got = await c.fetchOne(String(uid), { source: true, size: true }, { uid: true });
        const source = got ? got.source! : Buffer.alloc(0);
        expect(bareLf(source), subject).toBe(false);
        expect(source.toString('utf8'), subject).toContain('premiere ligne\r\ndeuxieme ligne\r\n\r\nfin');
        expect(got && got.size, subject).toBe(source.length);
      }
    } finally {
      await c.logout();
    }
  });

  it('a reader looping FETCH/STORE/SEARCH while a writer appends, flags and expunges keeps an exact model', async () => {
    const writer = flow();
    const model = new WireModel();
    const reader = flow(model);
    await writer.connect();
    await reader.connect();
    await writer.mailboxCreate('Busy');
    for (let i = 0; i < 3; i++) await writer.append('Busy', message(`seed ${i}`, `seed ${i}`));
    await writer.mailboxOpen('Busy');
    await reader.mailboxOpen('Busy');
    let expunges = 0;
    reader.on('expunge', () => expunges++);
    const until = Date.now() + 3000;
    const churn = (async () => {
      let rounds = 0;
      while (Date.now() < until) {
        rounds++;
        const first = await writer.append('Busy', message(`churn ${rounds}a`, `a ${rounds}`), [`$K${rounds % 5}`]);
        await writer.append('Busy', message(`churn ${rounds}b`, `b ${rounds}`));
        if (first && rounds % 2 === 0) await writer.messageFlagsAdd(String(first.uid), ['\\Flagged', `$New${rounds % 7}`], { uid: true });
        const uids = (await writer.search({ all: true }, { uid: true })) || [];
        const old = uids.slice(0, Math.max(0, uids.length - 4));
        if (old.length > 0) await writer.messageDelete(old.join(','), { uid: true });
      }
      return rounds;
    })();
    try {
      await readWhileOthersWrite(reader, until, '$Lu');
      expect(await churn).toBeGreaterThan(2);
      await reader.noop();
      const truth = (await writer.search({ all: true }, { uid: true })) || [];
      const mailbox = reader.mailbox;
      expect(mailbox && mailbox.exists).toBe(truth.length);
      expect(model.exists).toBe(truth.length);
      expect(await reader.search({ all: true }, { uid: true })).toEqual(truth);
      expect(expunges).toBeGreaterThan(0);
      expect(model.violations).toEqual([]);
    } finally {
      await churn.catch(() => undefined);
      await reader.logout();
      await writer.logout();
    }
  });

  it('subscriptions (RFC 3501 §6.3.3, §6.3.6; RFC 5258): CREATE does not subscribe; a subscription outlives DELETE, is listed \\NonExistent, and UNSUBSCRIBE still works', async () => {
    const c = await raw(PAUL);
    expect(await c.command('s1', 'CREATE Abonnements/Cardio')).toMatch(/^s1 OK/m);
    expect(await c.command('s2', 'LSUB "" "Abonnements/*"')).not.toMatch(/Cardio/);
    expect(await c.command('s3', 'SUBSCRIBE Abonnements/Cardio')).toMatch(/^s3 OK/m);
    expect(await c.command('s4', 'DELETE Abonnements/Cardio')).toMatch(/^s4 OK/m);
    const listed = await c.command('s5', 'LIST (SUBSCRIBED) "" "Abonnements/*"');
    expect(listed).toMatch(/^\* LIST \([^)]*\\NonExistent[^)]*\) "\/" "?Abonnements\/Cardio"?\r$/m);
    expect(listed).toMatch(/\\Subscribed/);
    expect(await c.command('s6', 'LIST "" "Abonnements/*"')).not.toMatch(/Cardio/);
    expect(await c.command('s7', 'SUBSCRIBE Abonnements/Nulle')).toMatch(/^s7 NO/m); // no such mailbox
    expect(await c.command('s8', 'UNSUBSCRIBE Abonnements/Cardio')).toMatch(/^s8 OK/m);
    expect(await c.command('s9', 'LIST (SUBSCRIBED) "" "Abonnements/*"')).not.toMatch(/Cardio/);
  });
});
