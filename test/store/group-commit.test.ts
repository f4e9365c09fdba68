import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import type { GroupCommit } from '../../src/store/sqlite/group-commit.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

/** Mail commits, queue updates and audit records asked for in one event-loop turn share one transaction. */
describe('group commit of the message path (SQLite)', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = tempDir();
    file = path.join(dir, 'm.db');
    store = SqliteStore.open(file);
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('holds the writes asked for during pauseFor (the checkpointer catching up) and writes them after, in order', async () => {
    const group = (store as unknown as { group: GroupCommit }).group;
    const settled: string[] = [];
    let during: Promise<unknown>[] = [];
    await group.pauseFor(async () => {
      during = [0, 1, 2].map((i) => store.mail.commit(Buffer.from(`held ${i}`), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: `held${i}` }]).then(() => settled.push(`held ${i}`)));
      await new Promise((r) => setTimeout(r, 50));
      // Nothing written while paused: no row, no promise settled.
      expect(settled).toEqual([]);
      expect(new Database(file, { readonly: true }).prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 0 });
    });
    await Promise.all(during);
    expect(settled).toEqual(['held 0', 'held 1', 'held 2']);
    const inbox = (await store.mail.getMailbox('a@x.test', 'INBOX'))!;
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual([1, 2, 3]);
  });

  it('commits concurrent deliveries and their audit records in one transaction, all durable when the promises resolve', async () => {
    const audit = new AuditTrail(store.audit);
    let begins = 0;
    // Count the transactions the group commits (its transaction functions are made once, at start).
    const group = (store as unknown as { group: GroupCommit }).group;
    const noted = group.onCommit;
    group.onCommit = () => { begins++; noted?.(); };
    const work = Array.from({ length: 10 }, (_, i) => [
      store.mail.commit(Buffer.from(`sealed ${i}`), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: `k${i}` }]),
      audit.record({ actor: 'system', action: `accept${i}`, outcome: 'ok' }),
    ]).flat();
    await Promise.all(work);
    expect(begins).toBe(1);
    const reader = new Database(file, { readonly: true });
    try {
      expect(reader.prepare('SELECT COUNT(*) AS n FROM messages').get()).toEqual({ n: 10 });
      expect(reader.prepare('SELECT COUNT(*) AS n FROM audit_log').get()).toEqual({ n: 10 });
    } finally {
      reader.close();
    }
    expect(await audit.verify()).toMatchObject({ ok: true, records: 10 });
  });

  it('a write alone in its batch that fails rejects and leaves nothing; the next batch commits', async () => {
    store.db.exec(`CREATE TRIGGER refuse_alone BEFORE INSERT ON messages WHEN NEW.delivery_key = 'alone' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    await expect(store.mail.commit(Buffer.from('sealed alone'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'alone' }])).rejects.toThrow(/refused/);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 0 });
    expect(store.db.inTransaction).toBe(false);
    await store.mail.commit(Buffer.from('sealed next'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'next' }]);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM messages').get()).toEqual({ n: 1 });
  });

  it('an EXPUNGE with nothing \\Deleted opens no write transaction; one with something does', async () => {
    for (let i = 0; i < 3; i++) await store.mail.commit(Buffer.from(`e${i}`), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: `e${i}` }]);
    const inbox = (await store.mail.getMailbox('a@x.test', 'INBOX'))!;
    const group = (store as unknown as { group: GroupCommit }).group;
    let commits = 0;
    const noted = group.onCommit;
    group.onCommit = () => { commits++; noted?.(); };
    expect(await store.mail.expunge(inbox.id)).toEqual([]);
    expect(await store.mail.expunge(inbox.id, [1, 2])).toEqual([]);
    expect(commits).toBe(0);
    await store.mail.setFlags(inbox.id, [2], 'add', ['\\Deleted']);
    commits = 0;
    expect(await store.mail.expunge(inbox.id, [1])).toEqual([]);
    expect(commits).toBe(0);
    expect(await store.mail.expunge(inbox.id)).toEqual([2]);
    expect(commits).toBe(1);
  });

  it('one write that fails is rolled back alone: its promise rejects, the others commit', async () => {
    store.db.exec(`CREATE TRIGGER refuse_k3 BEFORE INSERT ON messages WHEN NEW.delivery_key = 'k3' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) =>
      store.mail.commit(Buffer.from(`sealed ${i}`), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: `k${i}` }])));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    // Nothing of the failed one stays: not its message, not its blob.
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM messages').get()).toEqual({ n: 5 });
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 5 });
    const inbox = (await store.mail.getMailbox('a@x.test', 'INBOX'))!;
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual([1, 2, 3, 4, 5]);
  });

  it('when SQLite abandons the whole transaction (disk full), nothing of the batch is written and every write is reported failed', async () => {
    // Fill the database up to a page limit a little above its current size: a 200 KB blob no longer fits.
    const pages = (store.db.pragma('page_count', { simple: true }) as number) + 10;
    store.db.pragma(`max_page_count = ${pages}`);
    const results = await Promise.allSettled([
      store.mail.commit(Buffer.from('small 1'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 's1' }]),
      store.mail.commit(Buffer.alloc(200_000, 1), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'big' }]),
      store.mail.commit(Buffer.from('small 2'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 's2' }]),
      store.mail.commit(Buffer.from('small 3'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 's3' }]),
    ]);
    store.db.pragma('max_page_count = 1073741823');
    const written = (store.db.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
    // Either all were written, or none: never some written while reported failed.
    const fulfilled = results.filter((r) => r.status === 'fulfilled').length;
    expect(written).toBe(fulfilled);
    expect(results[1]!.status).toBe('rejected');
  });

  it('a batch of only flag, expunge, \\Recent and metadata writes commits without an fsync; one durable write makes the whole batch durable', async () => {
    const seen: number[] = [];
    const synchronous = (): number => Number(store.db.pragma('synchronous', { simple: true }));
    const placed = await store.mail.commit(Buffer.from('sealed'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'k' }]);
    const mailboxId = placed.placed[0]!.mailboxId;
    // The statements run inside the group's transaction: record the setting each one runs under.
    const prepare = store.db.prepare.bind(store.db);
    store.db.prepare = ((sql: string) => {
      if (/^(UPDATE messages SET flags|DELETE FROM messages|INSERT INTO message_meta|UPDATE mailboxes SET recent_uid)/.test(sql)) seen.push(synchronous());
      return prepare(sql);
    }) as typeof store.db.prepare;
    await Promise.all([
      store.mail.setFlags(mailboxId, [1], 'add', ['\\Seen']),
      store.mail.putMeta('a@x.test', placed.blobId, 'v1.x.y.z'),
      store.mail.claimRecent(mailboxId, 1),
    ]);
    await store.mail.setFlags(mailboxId, [1], 'add', ['\\Deleted']);
    await store.mail.expunge(mailboxId);
    expect(seen).toEqual([1, 1, 1, 1, 1]); // NORMAL: no fsync of their own
    expect(synchronous()).toBe(2); // FULL again for the next durable batch
    seen.length = 0;
    await Promise.all([
      store.mail.putMeta('a@x.test', placed.blobId, 'v1.a.b.c'),
      store.mail.commit(Buffer.from('sealed 2'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'k2' }]),
    ]);
    // Sharing a batch with a mail commit: fsynced with it, by the WAL's fdatasync after the commit
    // (off the event loop, test/store/group-commit-sync.test.ts), so the statements run under NORMAL.
    expect(seen).toEqual([1]);
  });
});
