/**
 * The folders a doctor makes are named in his words, which are often a patient's name: none of those
 * names is stored in clear (src/mailbox/folder-names.ts). On both stores, with imapflow over TLS
 * against the in-process gateway, looking inside through the store's interfaces and its bytes:
 * - CREATE (nested), APPEND, RENAME, SUBSCRIBE and DELETE work on the names as typed, LIST shows
 *   them with their hierarchy, and neither the stored names, the subscriptions left behind, nor any
 *   byte of the store holds them;
 * - after a restart (nothing in memory) a new session shows the same names, read from the
 *   encrypted metadata cache, and finds the mail filed under them;
 * - folders stored as typed before this (an older medgate) are renamed at the account's next login:
 *   the client sees the same names and the same mail, the store no longer holds the typed names;
 * - the old names left in freed space (SQLite's pages and WAL, PostgreSQL's dead row versions and
 *   files) are gone after `medgate store purge`, run beside the serving gateway, which goes on.
 */
import tls from 'node:tls';
import type { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { foundAtRest, postgresFilesAtRest, storeBytesAtRest } from '../helpers/at-rest.js';
import { runCli } from '../helpers/gateway.js';
import { describeOnStores, imapflowFor, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

/** The words a doctor typed as folder names: none may be found at rest. */
const TYPED = ['DUPONT Jean', 'Bilan 2026', 'Oncologie', 'MARTIN Léa', 'Suivi', 'Bilans'];

const NOTE = Buffer.from([
  `From: "Dr Paul DEMO" <${PAUL}>`, `To: ${PAUL}`, 'Subject: note', 'Message-ID: <folder-note@cabinet-antony.medgate.test>',
  'Date: Mon, 07 Dec 2026 08:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Bilan à revoir.', '',
].join('\r\n'));

/** LSUB "" "*" over a raw TLS connection: the untagged lines as the server wrote them. */
async function rawLsub(gw: InProcessGateway, user: string): Promise<string> {
  const sock = tls.connect({ host: '127.0.0.1', port: gw.ports.imapTls!, ca: gw.caPem, servername: 'localhost' });
  let text = '';
  const until = (pattern: RegExp): Promise<void> => new Promise((resolve, reject) => {
    const check = (): void => { if (pattern.test(text)) { sock.off('data', onData); resolve(); } };
    const onData = (d: Buffer): void => { text += d.toString('utf8'); check(); };
    sock.on('data', onData);
    sock.once('error', reject);
    check();
  });
  try {
    await until(/^\* OK/m);
    sock.write(`a LOGIN ${user} "${PW}"\r\n`);
    await until(/^a OK/m);
    text = '';
    sock.write('b LSUB "" "*"\r\n');
    await until(/^b OK/m);
    return text;
  } finally {
    sock.destroy();
  }
}

describeOnStores('folder names at rest', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({
      store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }],
    });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  const imap = (user: string): ImapFlow => imapflowFor(gw, user, PW);
  const listed = async (c: ImapFlow): Promise<Map<string, string[]>> =>
    new Map((await c.list()).map((m) => [m.path, [...m.flags].sort()]));

  it('stores no typed folder name, shows them as typed, and keeps them across a restart', async () => {
    const a = imap(PAUL);
    await a.connect();
    try {
      await a.mailboxCreate('DUPONT Jean/Bilan 2026');
      await a.mailboxCreate('Oncologie');
      await a.mailboxCreate('INBOX/Oncologie');
      await a.append('DUPONT Jean/Bilan 2026', NOTE, ['\\Seen']);
      // A folder with a subfolder renamed under Patients/: both found under their new names.
      await a.mailboxCreate('Suivi/2026');
      await a.mailboxRename('Suivi', 'Patients/MARTIN Léa (2001-02-03)');
      expect((await a.status('Patients/MARTIN Léa (2001-02-03)/2026', { messages: true })).messages).toBe(0);
      await a.mailboxCreate('Patients/DUPONT Jean (1959-01-30)/Bilans');
      await a.mailboxRename('Oncologie', 'Oncologie MARTIN Léa');
      await a.mailboxSubscribe('Oncologie MARTIN Léa');
      await a.mailboxDelete('Oncologie MARTIN Léa'); // its subscription stays (RFC 3501 §6.3.4)
      const boxes = await listed(a);
      expect(boxes.get('DUPONT Jean')).toContain('\\HasChildren');
      expect(boxes.get('DUPONT Jean/Bilan 2026')).toContain('\\HasNoChildren');
      expect(boxes.get('INBOX/Oncologie')).toBeDefined();
      expect(boxes.get('Patients/MARTIN Léa (2001-02-03)')).toContain('\\HasChildren');
      expect(boxes.get('Patients/MARTIN Léa (2001-02-03)/2026')).toBeDefined();
      expect(boxes.get('Patients/DUPONT Jean (1959-01-30)/Bilans')).toBeDefined();
      expect(boxes.get('Patients')).toContain('\\Noselect');
      expect(boxes.has('Oncologie')).toBe(false);
      expect((await a.status('DUPONT Jean/Bilan 2026', { messages: true })).messages).toBe(1);
      // CREATE of an existing name is answered [ALREADYEXISTS] as for any name (imapflow: created false).
      expect(await a.mailboxCreate('DUPONT Jean')).toMatchObject({ created: false });
    } finally {
      await a.logout();
    }
    // The subscription the DELETE left is listed under the name as typed (LSUB, raw: imapflow drops it).
    const lsub = await rawLsub(gw, PAUL);
    expect(lsub, lsub).toContain('(\\Noselect) "/" "Oncologie MARTIN L&AOk-a"'); // modified UTF-7 (RFC 3501 §5.1.3)

    // Inside: stored names and subscriptions are pseudonyms, and no byte of the store holds a typed name.
    const stored = [...(await gw.store.mail.listMailboxes(PAUL)).map((m) => m.name), ...(await gw.store.mail.listOrphanSubscriptions(PAUL))];
    expect(stored).toEqual(expect.arrayContaining(['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk']));
    for (const name of stored) for (const word of [...TYPED, 'Oncologie']) expect(name).not.toContain(word);
    expect(stored.filter((n) => /^~[A-Za-z0-9_-]{22}\/~[A-Za-z0-9_-]{22}$/.test(n))).toHaveLength(1); // DUPONT Jean/Bilan 2026
    expect(stored.some((n) => /^INBOX\/~[A-Za-z0-9_-]{22}$/.test(n))).toBe(true);
    const bytes = await storeBytesAtRest(gw.config);
    for (const word of TYPED) expect(foundAtRest(bytes, word), word).toBe(false);

    await gw.restart();
    const b = imap(PAUL);
    await b.connect();
    try {
      const boxes = await listed(b);
      expect([...boxes.keys()]).toEqual(expect.arrayContaining(['DUPONT Jean', 'DUPONT Jean/Bilan 2026', 'INBOX/Oncologie']));
      const lock = await b.getMailboxLock('DUPONT Jean/Bilan 2026');
      try {
        const [m] = await b.fetchAll('1:*', { source: true });
        expect(m?.source?.toString('utf8')).toContain('Bilan à revoir.');
      } finally {
        lock.release();
      }
      await b.mailboxRename('DUPONT Jean', 'DUPONT Jean (1959)');
      expect([...(await listed(b)).keys()]).toEqual(expect.arrayContaining(['DUPONT Jean (1959)', 'DUPONT Jean (1959)/Bilan 2026']));
      expect((await b.status('DUPONT Jean (1959)/Bilan 2026', { messages: true })).messages).toBe(1);
    } finally {
      await b.logout();
    }
    for (const m of await gw.store.mail.listMailboxes(PAUL)) expect(m.name).not.toContain('DUPONT');
  }, 120_000);

  it('refuses a name deeper than its stored form can be indexed, with a precise NO, and goes on', async () => {
    // Each level is stored as a 23-character pseudonym whatever its length: 250 short levels
    // (a 700-character name) would make a 5.7 KB stored one, past PostgreSQL's index entry (2.7 KB).
    const deep = Array.from({ length: 250 }, (_, i) => i.toString(36)).join('/');
    const sixtyFour = Array.from({ length: 64 }, (_, i) => `n${i}`).join('/');
    const sock = tls.connect({ host: '127.0.0.1', port: gw.ports.imapTls!, ca: gw.caPem, servername: 'localhost' });
    let text = '';
    sock.on('data', (d: Buffer) => { text += d.toString('utf8'); });
    const until = async (pattern: RegExp): Promise<string> => {
      for (let i = 0; i < 200 && !pattern.test(text); i++) await new Promise((r) => setTimeout(r, 25));
      return text.match(pattern)?.[0] ?? `no ${pattern} in ${text.slice(-300)}`;
    };
    try {
      await until(/^\* OK/m);
      sock.write(`a LOGIN ${PAUL} "${PW}"\r\n`);
      expect(await until(/^a \S+/m)).toBe('a OK');
      sock.write(`b CREATE "${deep}"\r\nc RENAME INBOX "${deep}"\r\nd CREATE "${sixtyFour}"\r\ne NOOP\r\n`);
      expect(await until(/^b .*$/m)).toMatch(/^b NO \[CANNOT\] .*hierarchy levels/);
      expect(await until(/^c .*$/m)).toMatch(/^c NO \[CANNOT\] .*hierarchy levels/);
      expect(await until(/^d \S+/m)).toBe('d OK');
      expect(await until(/^e \S+/m)).toBe('e OK');
    } finally {
      sock.destroy();
    }
    expect((await gw.store.mail.listMailboxes(PAUL)).some((m) => m.name.split('/').length === 64)).toBe(true);
  }, 60_000);

  it('renames folders stored as typed by an older medgate at the next login, mail and names kept', async () => {
    // As an older medgate left them: typed names, a child, a message in it, before JL's first login here.
    await gw.store.mail.ensureMailbox(JL, 'Cardio DUPONT');
    await gw.store.mail.ensureMailbox(JL, 'Cardio DUPONT/2024');
    await gw.store.mail.commit(Buffer.from('sealed bytes of an older copy'), [{ owner: JL, mailbox: 'Cardio DUPONT/2024', flags: ['\\Seen'], deliveryKey: 'legacy-folder-1' }]);
    await gw.store.mail.ensureMailbox(JL, 'INBOX/Labo MARTIN');

    const c = imap(JL);
    await c.connect();
    try {
      const boxes = await listed(c);
      expect([...boxes.keys()]).toEqual(expect.arrayContaining(['Cardio DUPONT', 'Cardio DUPONT/2024', 'INBOX/Labo MARTIN']));
      expect(boxes.get('Cardio DUPONT')).toContain('\\HasChildren');
      expect((await c.status('Cardio DUPONT/2024', { messages: true, unseen: true }))).toMatchObject({ messages: 1, unseen: 0 });
    } finally {
      await c.logout();
    }
    const names = (await gw.store.mail.listMailboxes(JL)).map((m) => m.name);
    expect(names).toHaveLength(8); // the five standard folders and the three above
    for (const name of names) {
      expect(name).not.toContain('Cardio');
      expect(name).not.toContain('MARTIN');
    }
  }, 120_000);

  it('medgate store purge removes the old names from freed space while the gateway serves', async () => {
    // Everything the files hold: SQLite's file and WAL; PostgreSQL's rows and its database's files on disk.
    const files = async (): Promise<Buffer[]> => [
      ...await storeBytesAtRest(gw.config), ...(store === 'postgres' ? await postgresFilesAtRest(gw.config.store.postgres!.url!) : []),
    ];
    // The test can fail: after the renames above, the old versions of the rows are still in the files.
    expect(foundAtRest(await files(), 'Cardio DUPONT'), 'old name in freed space before the purge').toBe(true);
    const r = await runCli(['store', 'purge', '--config', gw.configFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(store === 'sqlite' ? /SQLite file rewritten .*write-ahead log emptied/ : /PostgreSQL tables rewritten: mailboxes, orphan_subscriptions[\s\S]*pg_statistic\) rewritten/);
    const bytes = await files();
    for (const typed of ['Cardio DUPONT', 'Labo MARTIN']) expect(foundAtRest(bytes, typed), typed).toBe(false);
    // The gateway went on: the same names and mail.
    const c = imap(JL);
    await c.connect();
    try {
      expect([...(await listed(c)).keys()]).toEqual(expect.arrayContaining(['Cardio DUPONT', 'Cardio DUPONT/2024', 'INBOX/Labo MARTIN']));
      expect((await c.status('Cardio DUPONT/2024', { messages: true }))).toMatchObject({ messages: 1 });
    } finally {
      await c.logout();
    }
    expect((await gw.ctx.audit.list(1, 100_000)).some((a) => a.action === 'store.purge' && a.outcome === 'ok')).toBe(true);
  }, 120_000);
});
