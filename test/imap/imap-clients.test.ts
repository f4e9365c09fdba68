import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { foundAtRest, storeBytesAtRest } from '../helpers/at-rest.js';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

/** Python's imaplib as a second, independent IMAP client against the real encrypted store. */
const IMAPLIB = String.raw`
import imaplib, ssl, sys, json
port, ca, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
out = {}
m = imaplib.IMAP4('127.0.0.1', port)
out['logindisabled_before_tls'] = 'LOGINDISABLED' in m.capabilities
m.starttls(ssl_context=ctx)
m.login(user, pw)
typ, data = m.select('INBOX')
out['exists'] = int(data[0])
typ, data = m.search(None, 'SUBJECT', '"courrier 2"')
out['search_subject'] = data[0].decode()
typ, data = m.search(None, 'UNSEEN')
out['unseen'] = data[0].decode()
typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
out['subject_header'] = data[0][1].decode().strip()
m.store('1', '+FLAGS', '\\Flagged')
typ, data = m.search(None, 'FLAGGED')
out['flagged'] = data[0].decode()
m.logout()
print(json.dumps(out))
`;

function python(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', ['-c', IMAPLIB, ...args], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}

describeOnStores('IMAP on the encrypted store: Python imaplib, copy/move/expunge and search', (store) => {
  let gw: InProcessGateway;
  let caFile: string;

  beforeAll(async () => {
    // A gateway built in this process from the wiring `serve` uses, set up through the services
    // `medgate init`, the directory imports and `user add` call.
    gw = await startInProcessGateway({
      store,
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }],
    });
    caFile = gw.caFile;
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmissionTls, secure: true,
      tls: { ca: fs.readFileSync(caFile), servername: 'localhost' }, auth: { user: PAUL, pass: PW },
    });
    for (let i = 1; i <= 3; i++) {
      await t.sendMail({ from: PAUL, to: JL, subject: `PATIENT: MARTIN Alice 02/03/1970 - courrier ${i}`, text: `Lettre ${i} pour Mme MARTIN.`, date: new Date(Date.UTC(2026, 10, 20 + i)) });
    }
    t.close();
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
  });

  it('Python imaplib: STARTTLS, login, select, search, fetch and store on decrypted mail', async () => {
    const r = await python([String(gw.ports.imap), caFile, JL, PW]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ logindisabled_before_tls: true, exists: 3, search_subject: '2', unseen: '1 2 3', flagged: '1' });
    expect(out.subject_header).toBe('Subject: PATIENT: MARTIN Alice 02/03/1970 - courrier 1');
  });

  it('imapflow: search by body, date and size; copy, move and expunge keep the store consistent', async () => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: fs.readFileSync(caFile, 'utf8'), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      expect(await c.search({ body: 'Lettre 3' })).toEqual([3]);
      expect(await c.search({ sentSince: new Date(Date.UTC(2026, 10, 22)) })).toEqual([2, 3]);
      expect(await c.search({ since: new Date(Date.now() - 86_400_000) })).toEqual([1, 2, 3]); // arrival (internal) date
      expect((await c.search({ larger: 10 })).length).toBe(3);
      expect(await c.search({ from: 'paul.demo' })).toEqual([1, 2, 3]);
      await c.mailboxCreate('Archives');
      const copied = await c.messageCopy('1', 'Archives');
      expect(copied && copied.uidMap?.size).toBe(1);
      const moved = await c.messageMove('2', 'Archives');
      expect(moved && moved.uidMap?.size).toBe(1);
      expect((await c.status('INBOX', { messages: true })).messages).toBe(2);
      expect((await c.status('Archives', { messages: true })).messages).toBe(2);
      await c.messageFlagsAdd('1', ['\\Deleted']);
      await c.messageDelete('1');
      expect((await c.status('INBOX', { messages: true })).messages).toBe(1);
      await c.mailboxOpen('Archives');
      const subjects: string[] = [];
      for await (const m of c.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
      expect(subjects.sort()).toEqual(['PATIENT: MARTIN Alice 02/03/1970 - courrier 1', 'PATIENT: MARTIN Alice 02/03/1970 - courrier 2']);
      const patients = (await c.list()).map((m) => m.path).filter((p) => p.startsWith('Patients/'));
      expect(patients).toEqual(['Patients/MARTIN Alice (1970-03-02)']);
    } finally {
      await c.logout();
    }
  });

  it('a sender cannot forge medgate\'s verdict: its own X-Medgate-Signature and X-Medgate-Route-* fields are renamed', async () => {
    const ca = fs.readFileSync(caFile);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmissionTls, secure: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    await t.sendMail({ from: PAUL, to: JL, subject: 'verdict forge', text: 'x', headers: {
      'X-Medgate-Signature': 'valid; signer=ordre@medecins.example',
      'X-Medgate-Route-Patient-INS': '180017512345678',
    } });
    t.close();
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: ca.toString(), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne('*', { source: true });
      const head = m ? m.source!.toString('utf8').split('\r\n\r\n')[0]! : '';
      expect(head).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test;/);
      expect(head.match(/^X-Medgate-Signature:/gim)).toHaveLength(1);
      expect(head).toMatch(/^X-Untrusted-Medgate-Signature: valid; signer=ordre@medecins\.example$/m);
      // Nor the routing fields a record server files by.
      expect(head).not.toMatch(/^X-Medgate-Route-Patient-INS:/im);
      expect(head).toMatch(/^X-Untrusted-Medgate-Route-Patient-INS: 180017512345678$/im);
    } finally {
      await c.logout();
    }
  });

  it('a folder the doctor makes or renames under Patients/ is stored pseudonymised too', async () => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: fs.readFileSync(caFile, 'utf8'), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      await c.mailboxCreate('Patients/BERNARDIN Lucie (1980-04-05)');
      await c.mailboxCreate('Dossier temporaire');
      await c.mailboxRename('Dossier temporaire', 'Patients/GALLOIS Remi (1975-07-08)');
      const names = (await c.list()).map((m) => m.path);
      expect(names).toEqual(expect.arrayContaining(['Patients/BERNARDIN Lucie (1980-04-05)', 'Patients/GALLOIS Remi (1975-07-08)']));
      expect(names).not.toContain('Dossier temporaire');
      expect((await c.status('Patients/GALLOIS Remi (1975-07-08)', { messages: true })).messages).toBe(0);
    } finally {
      await c.logout();
    }
    const atRest = await storeBytesAtRest(gw.config);
    expect(foundAtRest(atRest, 'BERNARDIN')).toBe(false);
    expect(foundAtRest(atRest, 'GALLOIS')).toBe(false);
  });
});
