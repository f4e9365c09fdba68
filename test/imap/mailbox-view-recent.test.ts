/**
 * MailboxView keeps its \Recent count as messages come and go (it was counted over every message at
 * each RECENT response: O(messages) per APPEND into the selected mailbox). Checked against the
 * definition — the messages of the view marked recent — after seeded random arrivals, recent or not,
 * and expunges, and in the RECENT responses the drains produce; and over TLS, the RECENT a session
 * is told after its own APPENDs into the selected mailbox, before and after an EXPUNGE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailboxView } from '../../src/imap/mailbox-view.js';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { RawImap } from '../helpers/raw-imap.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describe('MailboxView recent count', () => {
  it('equals the recent messages of the view after 300 seeded rounds of arrivals and expunges', () => {
    let seed = 11;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const v = new MailboxView({
      name: 'INBOX', uidValidity: 1, uidNext: 11, firstRecentUid: 6,
      messages: Array.from({ length: 10 }, (_, i) => ({ uid: i + 1, flags: [], internalDate: new Date(0), size: 1 })),
    }, false);
    expect(v.recentCount).toBe(5);
    let next = 11;
    for (let round = 0; round < 300; round++) {
      for (let i = rand(4); i > 0; i--) {
        v.queue({ type: 'exists', message: { uid: next++, flags: [], internalDate: new Date(0), size: 1, recent: rand(2) === 0 } });
      }
      const recentNow = (): number => v.all().filter((m) => m.recent).length;
      const told = v.drain(true, false).map((b) => b.toString('latin1')).filter((l) => / RECENT\r\n$/.test(l));
      expect(v.recentCount).toBe(recentNow());
      for (const line of told) expect(line).toBe(`* ${recentNow()} RECENT\r\n`);
      const gone = v.all().map((m) => m.uid).filter(() => rand(5) === 0);
      if (gone.length) v.queue({ type: 'expunge', uids: gone });
      v.drain(true, false);
      expect(v.recentCount).toBe(recentNow());
    }
  });
});

describeOnStores('RECENT after APPENDs into the selected mailbox, over TLS', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  it('counts each APPEND as recent and forgets an expunged one', async () => {
    const c = await RawImap.connect(gw.ports.imapTls!, gw.caPem);
    try {
      await c.command('a1', `LOGIN ${PAUL} "${PW}"`);
      await c.command('a2', 'CREATE Recents');
      await c.command('a3', 'SELECT Recents');
      const append = async (tag: string): Promise<string[]> => {
        const m = `Subject: ${tag}\r\n\r\nbody\r\n`;
        return c.command(tag, `APPEND Recents {${m.length}+}\r\n${m}`);
      };
      for (const [tag, n] of [['b1', 1], ['b2', 2], ['b3', 3]] as const) expect(await append(tag)).toContain(`* ${n} RECENT`);
      await c.command('b4', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
      await c.command('b5', 'EXPUNGE');
      // Two recent messages left, and the new one: 3 (4 had the expunged one still been counted).
      expect(await append('b6')).toContain('* 3 RECENT');
    } finally {
      c.end();
    }
  });
});
