/**
 * The SQLite statements of an IMAP session's every command are compiled once. SQLite plans a
 * `column = ?` with ORDER BY, GROUP BY or min()/max() from the value bound, so such a statement was
 * compiled again at each execution (src/store/sqlite/stable-params.ts), which better-sqlite3 shows
 * by rebuilding the statement's row constructor with Function(): counted here, it must not happen
 * once a statement has run. The same rows come back (the plan is the same index search).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

const A = 'a@x.test';

/** Calls to the global Function constructor during `work` (better-sqlite3's row constructors). */
async function functionCalls(work: () => Promise<void>): Promise<number> {
  const original = globalThis.Function;
  let calls = 0;
  globalThis.Function = new Proxy(original, { apply(target, self, args) { calls++; return Reflect.apply(target, self, args); } });
  try {
    await work();
  } finally {
    globalThis.Function = original;
  }
  return calls;
}

describe('SQLite statements compiled once (stable plans)', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = tempDir();
    store = SqliteStore.open(path.join(dir, 'm.db'));
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('LIST, STATUS, SELECT and EXPUNGE statements are not compiled again at each execution', async () => {
    for (let i = 1; i <= 5; i++) {
      await store.mail.commit(Buffer.from(`m${i}`), [{ owner: A, mailbox: 'INBOX', flags: i === 2 ? ['\\Deleted'] : [], deliveryKey: `k${i}` }]);
    }
    await store.mail.ensureMailbox(A, 'Archive');
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const reads = async (): Promise<void> => {
      await store.mail.listMailboxes(A);
      await store.mail.listOrphanSubscriptions(A);
      await store.mail.listMessages(inbox.id);
      await store.mail.countMessages(inbox.id);
      await store.mail.expunge(inbox.id, [99]); // reads the \Deleted rows, removes nothing
    };
    await reads(); // first executions: each statement compiled and its row constructor made
    expect(await functionCalls(async () => { for (let i = 0; i < 20; i++) await reads(); })).toBe(0);
    expect((await store.mail.listMailboxes(A)).map((m) => m.name)).toEqual(['Archive', 'INBOX']);
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual([1, 2, 3, 4, 5]);
    expect(await store.mail.countMessages(inbox.id)).toMatchObject({ messages: 5, deleted: 1, unseen: 5 });
    expect(await store.mail.expunge(inbox.id)).toEqual([2]);
  });

  it('a directory search by identifier is compiled once, and finds by either identifier', async () => {
    const entry = (address: string, idValue: string, nationalId: string) => ({
      address, mailboxType: 'PER' as const, idType: 'RPPS' as const, idValue, nationalId, civility: null, familyName: null, givenName: null,
      professionCode: null, professionLabel: null, specialtyCode: null, specialtyLabel: null, organisation: null, status: 'active' as const,
      certificatePem: null, pgpPublicKey: null, source: 'ans', updatedAt: new Date(0).toISOString(),
    });
    await store.directory.upsert(entry('b@x.test', '10100000017', '810100000017'));
    await store.directory.upsert(entry('a@x.test', '10100000041', '810100000041'));
    await store.directory.findByIdentifier('10100000017');
    expect(await functionCalls(async () => { for (let i = 0; i < 20; i++) await store.directory.findByIdentifier('810100000041'); })).toBe(0);
    expect((await store.directory.findByIdentifier('10100000017')).map((e) => e.address)).toEqual(['b@x.test']);
    expect((await store.directory.findByIdentifier('810100000041')).map((e) => e.address)).toEqual(['a@x.test']);
  });

  it('the check itself sees a statement compiled at each execution (the form the stores no longer use)', async () => {
    await store.mail.commit(Buffer.from('m'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k' }]);
    const db = new Database(path.join(dir, 'm.db'));
    try {
      const plain = db.prepare('SELECT uid, blob_id FROM messages WHERE mailbox_id = ? ORDER BY uid');
      plain.all(1);
      expect(await functionCalls(async () => { for (let i = 0; i < 5; i++) plain.all(1); })).toBe(5);
    } finally {
      db.close();
    }
  });
});
