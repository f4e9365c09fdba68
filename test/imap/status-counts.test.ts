/**
 * STATUS without SIZE is answered from the stored rows (flags, UIDs), without looking up or opening
 * each message (a mail client polls STATUS on every folder): on both stores, over TLS with a raw
 * client, its counts are checked against what was done to the folder, and against the same STATUS
 * asked with SIZE (which still goes through each message's opened size); a message never opened
 * stays unopened through STATUS (no metadata entry written), and SIZE opens it.
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { RawImap } from '../helpers/raw-imap.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

function statusOf(lines: string[]): Record<string, number> {
  const line = lines.find((l) => l.startsWith('* STATUS'));
  if (!line) throw new Error(`no STATUS in ${lines.join(' | ')}`);
  const items = /\(([^)]*)\)\s*$/.exec(line)![1]!.split(' ');
  const out: Record<string, number> = {};
  for (let i = 0; i < items.length; i += 2) out[items[i]!] = Number(items[i + 1]);
  return out;
}

describeOnStores('STATUS counts from the rows', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  it('gives MESSAGES, UNSEEN, DELETED, RECENT, UIDNEXT, UIDVALIDITY and HIGHESTMODSEQ as the SIZE form does', async () => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    await c.connect();
    let uids: number[] = [];
    try {
      await c.mailboxCreate('Dossiers');
      for (let i = 0; i < 4; i++) {
        const raw = Buffer.from(`From: ${PAUL}\r\nSubject: note ${i}\r\nMessage-ID: <status-${i}@cabinet-antony.medgate.test>\r\n\r\nNote ${i}.\r\n`);
        uids.push(((await c.append('Dossiers', raw, i === 0 ? ['\\Seen'] : [])) as { uid: number }).uid);
      }
      await c.mailboxOpen('Dossiers');
      await c.messageFlagsAdd(String(uids[1]), ['\\Deleted', '\\Seen'], { uid: true });
      await c.messageFlagsAdd(String(uids[2]), ['$Label1'], { uid: true });
    } finally {
      await c.logout();
    }

    const raw = await RawImap.connect(gw.ports.imapTls!, gw.caPem);
    try {
      await raw.command('a1', `LOGIN ${PAUL} "${PW}"`);
      await raw.command('a2', 'ENABLE CONDSTORE');
      const counts = statusOf(await raw.command('a3', 'STATUS Dossiers (MESSAGES UNSEEN DELETED RECENT UIDNEXT UIDVALIDITY HIGHESTMODSEQ)'));
      const withSize = statusOf(await raw.command('a4', 'STATUS Dossiers (MESSAGES UNSEEN DELETED RECENT UIDNEXT UIDVALIDITY HIGHESTMODSEQ SIZE)'));
      expect(counts).toMatchObject({ MESSAGES: 4, UNSEEN: 2, DELETED: 1, UIDNEXT: uids[3]! + 1 });
      expect(counts.HIGHESTMODSEQ).toBeGreaterThan(0);
      const { SIZE, ...rest } = withSize;
      expect(rest).toEqual(counts);
      expect(SIZE).toBeGreaterThan(4 * 60);
      // RECENT: the APPENDing session held them while it was selected; a later session sees none new.
      expect(counts.RECENT).toBe(0);
      // An empty folder and one that does not exist.
      await raw.command('a5', 'CREATE Vide');
      expect(statusOf(await raw.command('a6', 'STATUS Vide (MESSAGES UNSEEN UIDNEXT)'))).toEqual({ MESSAGES: 0, UNSEEN: 0, UIDNEXT: 1 });
      expect((await raw.command('a7', 'STATUS Absent (MESSAGES)')).at(-1)).toMatch(/^a7 NO /);

      // A message filed in a folder and never opened (here bytes that do not even open): STATUS
      // counts it without opening it — an opening writes the message's metadata entry, even for a
      // message that does not open — and only SIZE needs the opening.
      const committed = await gw.store.mail.commit(Buffer.from('not a sealed message\r\n'), [{ owner: PAUL, mailbox: await gw.folder(PAUL, PW, 'Vide'), deliveryKey: 'status-unopened' }]);
      expect(statusOf(await raw.command('a8', 'STATUS Vide (MESSAGES UNSEEN UIDNEXT)'))).toEqual({ MESSAGES: 1, UNSEEN: 1, UIDNEXT: 2 });
      expect(await gw.store.mail.getMeta(PAUL, committed.blobId)).toBeUndefined();
      expect(statusOf(await raw.command('a9', 'STATUS Vide (MESSAGES SIZE)')).MESSAGES).toBe(1);
      expect(await gw.store.mail.getMeta(PAUL, committed.blobId)).toEqual(expect.any(String));
    } finally {
      await raw.command('z', 'LOGOUT').catch(() => undefined);
    }
  }, 60_000);
});
