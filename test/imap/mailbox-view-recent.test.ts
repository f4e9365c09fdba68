/**
 * MailboxView keeps its \Recent count as messages come and go (it was counted over every message at
 * each RECENT response: O(messages) per APPEND into the selected mailbox). Checked against the
 * definition — the messages of the view marked recent — after seeded random arrivals, recent or not,
 * and expunges, and in the RECENT responses the drains produce.
 */
import { describe, expect, it } from 'vitest';
import { MailboxView } from '../../src/imap/mailbox-view.js';

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
