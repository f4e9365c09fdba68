/**
 * MailboxView.resolve finds each range of a sequence set by binary search: checked against the
 * definition (every message tested with sequenceSetContains) on seeded random mailboxes (UIDs with
 * gaps, empty) and sets (`*`, reversed, overlapping and out-of-range ranges), by UID and by sequence
 * number; and that a single UID in a large mailbox does not walk it.
 */
import { describe, expect, it } from 'vitest';
import { MailboxView } from '../../src/imap/mailbox-view.js';
import { parseSequenceSet, sequenceSetContains } from '../../src/imap/parser/sequence-set.js';

function view(uids: number[]): MailboxView {
  return new MailboxView({
    name: 'INBOX', uidValidity: 1, uidNext: (uids.at(-1) ?? 0) + 1,
    messages: uids.map((uid) => ({ uid, flags: [], internalDate: new Date(0), size: 1 })),
  }, false);
}

describe('MailboxView.resolve', () => {
  it('designates exactly what the sequence set contains, once each, in order (2000 seeded cases)', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let c = 0; c < 2000; c++) {
      const uids: number[] = [];
      let uid = 0;
      for (let i = rand(40); i > 0; i--) uids.push((uid += 1 + rand(5)));
      const v = view(uids);
      const bound = (): string => (rand(6) === 0 ? '*' : String(1 + rand(uid + 8)));
      const text = Array.from({ length: 1 + rand(4) }, () => (rand(3) === 0 ? bound() : `${bound()}:${bound()}`)).join(',');
      const set = parseSequenceSet(text);
      for (const byUid of [true, false]) {
        const max = byUid ? (uids.at(-1) ?? 0) : uids.length;
        const expected = v.all().filter((m, i) => sequenceSetContains(set, byUid ? m.uid : i + 1, max)).map((m) => m.uid);
        expect(v.resolve(set, byUid).map((m) => m.uid), `${text} ${byUid ? 'UID' : 'seq'} in [${uids.join(',')}]`).toEqual(expected);
      }
    }
  });

  it('finds one UID among 100 000 without testing every message', () => {
    const v = view(Array.from({ length: 100_000 }, (_, i) => 2 * i + 1));
    let reads = 0;
    const all = v.all();
    const counted = new Proxy(all, { get: (t, p, r) => { if (typeof p === 'string' && /^\d+$/.test(p)) reads++; return Reflect.get(t, p, r); } });
    (v as unknown as { messages: unknown }).messages = counted;
    expect(v.resolve(parseSequenceSet('150001'), true).map((m) => m.uid)).toEqual([150001]);
    expect(v.resolve(parseSequenceSet('150002'), true)).toEqual([]);
    expect(v.resolve(parseSequenceSet('*'), false).map((m) => m.uid)).toEqual([199999]);
    expect(reads).toBeLessThan(200);
  });
});
