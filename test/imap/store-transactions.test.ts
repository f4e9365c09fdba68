/**
 * One decision, one store transaction (Store.write), on the real gateway and on BOTH stores:
 *
 * - Two Python imaplib sessions race `UID STORE n (UNCHANGEDSINCE m) +FLAGS (...)` on the same
 *   message from the same MODSEQ, round after round (with PostgreSQL, each session on its own
 *   node: two `medgate serve` processes over one database): RFC 7162 §3.1.3 allows exactly one of them to
 *   change the message; the other must be told `[MODIFIED n]` and its keyword must not be set.
 * - A MOVE killed between its copy and its expunge (crash point `move:copied`, SIGKILL of the
 *   spawned gateway): after a restart the message is in exactly one mailbox.
 * - An APPEND killed right after its commit (crash point `append:committed`): the copy's facts
 *   (Placement.meta) were committed with it, and it is served byte for byte after restart.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { openStore } from '../../src/store/index.js';
import { CLI, startServe, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';
import { describeOnStores } from '../helpers/stores.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const ROUNDS = 40;


/**
 * Two sessions (threads, each its own connection) released together by a barrier send the same
 * conditional STORE with a different keyword. Prints, per round, each session's tagged reply and
 * which keywords the message then has (read by a fresh session).
 */
const RACE = String.raw`
import imaplib, ssl, sys, json, threading, re
port, port_b, ca, user, pw, rounds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca)
def session(port):
    m = imaplib.IMAP4('127.0.0.1', port)
    m.starttls(ssl_context=ctx)
    m.login(user, pw)
    m.select('INBOX')
    return m
a, b, reader = session(port), session(port_b), session(port)
typ, data = a.uid('SEARCH', None, 'ALL')
uid = data[0].split()[-1].decode()
def fresh(item):
    # A SELECT (here EXAMINE, read-only) reads the store itself: a and b's views of the other node's
    # changes follow its notifications, which may land a moment after the STORE answered. One
    # reader session opens the mailbox again for each read (a new session each time cost a TLS
    # handshake and a login per read).
    reader.select('INBOX', readonly=True)
    typ, data = reader.uid('FETCH', uid, '(%s)' % item)
    lines = [d if isinstance(d, bytes) else d[0] for d in data if d]
    return lines[-1].decode()
results = []
for r in range(rounds):
    modseq = int(re.search(r'MODSEQ \((\d+)\)', fresh('MODSEQ')).group(1))
    barrier = threading.Barrier(2)
    out = [None, None]
    kws = ['$R%dA' % r, '$R%dB' % r]
    def race(i, conn):
        barrier.wait()
        tag = conn._command('UID', 'STORE', uid, '(UNCHANGEDSINCE %d)' % modseq, '+FLAGS', '(%s)' % kws[i])
        typ, dat = conn._command_complete('UID', tag)
        out[i] = '%s %s' % (typ, dat[0].decode() if dat and dat[0] else '')
    threads = [threading.Thread(target=race, args=(i, c)) for i, c in enumerate((a, b))]
    for t in threads: t.start()
    for t in threads: t.join()
    flags = fresh('FLAGS')
    results.append({'modseq': modseq, 'replies': out, 'kept': [k for k in kws if k in flags]})
a.logout(); b.logout(); reader.logout()
print(json.dumps({'uid': uid, 'rounds': results}))
`;

function python(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', ['-c', script, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
  });
}

function message(subject: string): Buffer {
  return Buffer.from([`From: ${PAUL}`, `To: ${PAUL}`, `Subject: ${subject}`, 'Date: Tue, 03 Mar 2026 09:30:00 +0100',
    `Message-ID: <${Math.random().toString(36).slice(2)}@cabinet-antony.medgate.test>`, 'Content-Type: text/plain; charset=utf-8',
    '', 'Texte.', ''].join('\r\n'));
}

describeOnStores('store transactions on the real gateway', (store) => {
  let dir: string;
  let config: string;
  let ca: string;
  let gw: ServeProcess | undefined;
  /** PostgreSQL: a second node over the same database (its own data dir, the first node's keys). */
  let node2: ServeProcess | undefined;
  let prepared: Awaited<ReturnType<typeof prepareForServe>> | undefined;
  const crashEnv = { MEDGATE_TEST_CRASH_AT: 'move:copied' };
  /** The crash point the running gateway `gw` was started with. */
  let armed: string | undefined;
  /** Starts the gateway again, armed at `crashAt` (only the operation named there reaches it). */
  const restart = async (crashAt?: string): Promise<ServeProcess> => {
    armed = crashAt;
    return startServe(config, 90_000, crashAt ? { ...defaultLaunch(), env: { MEDGATE_TEST_CRASH_AT: crashAt } } : undefined);
  };

  const imap = (p: ServeProcess): ImapFlow => {
    const c = new ImapFlow({ host: '127.0.0.1', port: p.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    return c;
  };

  beforeAll(async () => {
    // Set up through the services `medgate init` / `user add` call (no CLI process per step), then served by real processes.
    prepared = await prepareForServe({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
    dir = prepared.dir;
    config = prepared.configFile;
    const pgUrl = prepared.config.store.driver === 'postgres' ? prepared.config.store.postgres!.url : undefined;
    ca = fs.readFileSync(prepared.caFile, 'utf8');
    // Armed from the start: only a MOVE reaches the crash point.
    gw = await startServe(config, 90_000, { ...defaultLaunch(), env: crashEnv });
    armed = crashEnv.MEDGATE_TEST_CRASH_AT;
    if (pgUrl) {
      const dir2 = path.join(dir, 'node2');
      fs.mkdirSync(dir2);
      const certs = path.join(dir, 'certs');
      node2 = await startServe(writeGatewayConfig(dir2, { extra: {
        store: { driver: 'postgres', postgres: { url: pgUrl } }, dataDir: path.join(dir2, 'data'), keysDir: path.join(dir, 'data'),
        pki: { caDir: certs, trustAnchors: [path.join(certs, 'ca.pem')], crls: [path.join(certs, 'crl.pem')] },
      } }));
    }
  }, 240_000);

  afterAll(async () => {
    await gw?.stop('SIGKILL').catch(() => undefined);
    await node2?.stop('SIGKILL').catch(() => undefined);
    await prepared?.dispose();
  });

  it(`two sessions${store === 'postgres' ? ' on two nodes' : ''} racing UID STORE (UNCHANGEDSINCE m) from the same MODSEQ, ${ROUNDS} rounds: exactly one wins each round, the other gets MODIFIED`, async () => {
    const c = imap(gw!);
    await c.connect();
    await c.append('INBOX', message('course aux drapeaux'));
    await c.logout();
    const r = await python(RACE, [String(gw!.ports.imap), String((node2 ?? gw!).ports.imap), path.join(dir, 'certs', 'ca.pem'), PAUL, PW, String(ROUNDS)]);
    expect(r.code, r.stderr).toBe(0);
    const { uid, rounds } = JSON.parse(r.stdout) as { uid: string; rounds: Array<{ modseq: number; replies: string[]; kept: string[] }> };
    const bad = rounds.filter((round) => {
      const won = round.replies.filter((reply) => /^OK /.test(reply) && !reply.includes('MODIFIED'));
      const refused = round.replies.filter((reply) => reply.startsWith(`OK [MODIFIED ${uid}]`));
      return won.length !== 1 || refused.length !== 1 || round.kept.length !== 1;
    });
    expect(bad, `rounds where not exactly one session won: ${JSON.stringify(bad.slice(0, 3))}`).toEqual([]);
    // Each round started from the MODSEQ the previous winner left: the winners really changed it.
    for (let i = 1; i < rounds.length; i++) expect(rounds[i]!.modseq).toBeGreaterThan(rounds[i - 1]!.modseq);
  }, 180_000);

  it('a MOVE killed between its copy and its expunge leaves the message in exactly one mailbox after restart', async () => {
    const c = imap(gw!);
    await c.connect();
    await c.append('INBOX', message('à déplacer'));
    const count = async (client: ImapFlow, name: string): Promise<number> => (await client.status(name, { messages: true })).messages ?? -1;
    const before = { inbox: await count(c, 'INBOX'), trash: await count(c, 'Trash') };
    await c.mailboxOpen('INBOX');
    const last = (c.mailbox as { uidNext: number }).uidNext - 1;
    const exited = new Promise<void>((resolve) => gw!.child.once('exit', () => resolve()));
    await c.messageMove(String(last), 'Trash', { uid: true }).catch(() => undefined);
    await exited; // the gateway died at the crash point, in the middle of the MOVE
    c.close();

    // Restarted armed for the next test's APPEND (this test only moves and reads): one start less.
    gw = await restart('append:committed');
    const after = imap(gw);
    await after.connect();
    try {
      const inbox = await count(after, 'INBOX');
      const trash = await count(after, 'Trash');
      // Rolled back whole: still in the INBOX only (never in both, never in neither).
      expect({ inbox, trash }).toEqual(before);
      // And the same MOVE, uninterrupted, moves it.
      await after.mailboxOpen('INBOX');
      await after.messageMove(String(last), 'Trash', { uid: true });
      expect({ inbox: await count(after, 'INBOX'), trash: await count(after, 'Trash') }).toEqual({ inbox: before.inbox - 1, trash: before.trash + 1 });
    } finally {
      await after.logout();
    }
  }, 180_000);

  it('an APPEND killed right after its commit left its copy with its facts: recorded in the same transaction, served as appended after restart', async () => {
    if (armed !== 'append:committed') {
      await gw!.stop('SIGKILL').catch(() => undefined);
      gw = await restart('append:committed');
    }
    const raw = message('brouillon interrompu');
    const c = imap(gw!);
    await c.connect();
    const exited = new Promise<void>((resolve) => gw!.child.once('exit', () => resolve()));
    // No OK comes back: the gateway dies between the commit and the answer.
    await expect(c.append('Drafts', raw)).rejects.toBeDefined();
    await exited;
    c.close();

    // Through the store's own interface, the gateway down (SQLite's one writer gone).
    const st = await openStore(loadConfig(config));
    let blobId: string;
    try {
      const drafts = (await st.mail.getMailbox(PAUL, 'Drafts'))!;
      const last = (await st.mail.listMessages(drafts.id)).at(-1)!;
      expect(last).toBeDefined();
      blobId = last.blobId;
      // The own copy's facts are there with it: no crash point lies between the two.
      expect(await st.mail.getMeta(PAUL, blobId)).toEqual(expect.any(String));
    } finally {
      await st.close();
    }

    gw = await restart();
    const after = imap(gw);
    await after.connect();
    try {
      await after.mailboxOpen('Drafts');
      const uid = (after.mailbox as { uidNext: number }).uidNext - 1;
      const got = await after.fetchOne(String(uid), { source: true }, { uid: true });
      // Byte for byte as appended (CRLF), no verdict above it: it is known to be the user's own copy.
      expect(got && got.source?.equals(raw)).toBe(true);
    } finally {
      await after.logout();
    }
  }, 180_000);
});

/** As startServe launches by default: node with the recommended flags, the built CLI. */
function defaultLaunch(): { file: string; args: string[] } {
  return { file: process.execPath, args: [...SERVE_NODE_FLAGS, CLI] };
}
