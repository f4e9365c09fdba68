/**
 * The group commit's fsync runs off the event loop (issue 31): a durable batch commits with
 * synchronous=NORMAL and the WAL file is fdatasync'ed on libuv's thread pool before the batch's
 * promises settle. fs.fdatasync is replaced here by one the test releases by hand, so each claim
 * is observed, not timed:
 * - a durable commit's promise stays pending until the WAL's fdatasync completes, and the fd synced
 *   is the database's -wal file;
 * - meanwhile the event loop runs: a flag change (not durable) commits and resolves;
 * - durable batches committed while a sync runs share the NEXT one (one more fdatasync, not one each);
 * - a failed fdatasync fails the writes of its batch;
 * - without a WAL file to sync, durable batches commit with synchronous=FULL, as before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { GroupCommit } from '../../src/store/sqlite/group-commit.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

type Callback = (err: NodeJS.ErrnoException | null) => void;

describe('group commit: the WAL fdatasync off the event loop (SQLite)', () => {
  let dir: string;
  let store: SqliteStore;
  const realFdatasync = fs.fdatasync;
  let held: Array<{ fd: number; done: Callback }>;

  beforeEach(async () => {
    dir = tempDir();
    store = SqliteStore.open(path.join(dir, 'm.db'));
    await store.migrate();
    // A first message (the WAL file exists from the migrations on; it is opened at this commit).
    await store.mail.commit(Buffer.from('first'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'first' }]);
    held = [];
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, done: Callback) => { held.push({ fd, done }); };
  });
  afterEach(async () => {
    (fs as { fdatasync: unknown }).fdatasync = realFdatasync;
    for (const h of held) h.done(null);
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const settled = async (p: Promise<unknown>): Promise<boolean> => {
    let done = false;
    void p.then(() => { done = true; }, () => { done = true; });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    return done;
  };
  const waitForSync = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && held.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    expect(held.length).toBe(n);
  };
  const commit = (key: string) => store.mail.commit(Buffer.from(`sealed ${key}`), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: key }]);

  it('a durable commit settles only after the WAL file is fdatasynced, and other work goes on meanwhile', async () => {
    let synchronousAtInsert: number | undefined;
    const prepare = store.db.prepare.bind(store.db);
    store.db.prepare = ((sql: string) => {
      if (sql.startsWith('INSERT INTO messages')) synchronousAtInsert = Number(store.db.pragma('synchronous', { simple: true }));
      return prepare(sql);
    }) as typeof store.db.prepare;
    const pending = commit('k1');
    await waitForSync(1);
    expect(synchronousAtInsert).toBe(1); // NORMAL: SQLite's COMMIT did not fsync
    expect(fs.readlinkSync(`/proc/self/fd/${held[0]!.fd}`)).toBe(path.join(dir, 'm.db-wal'));
    expect(await settled(pending)).toBe(false);
    // The event loop is free: a flag change (not durable) commits and resolves while the sync runs.
    const inbox = (await store.mail.getMailbox('a@x.test', 'INBOX'))!;
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Seen']);
    expect(await settled(pending)).toBe(false);
    held.shift()!.done(null);
    await pending;
    expect(Number(store.db.pragma('synchronous', { simple: true }))).toBe(2); // FULL again for everything else
  });

  it('batches committed while a sync runs share the next fdatasync', async () => {
    const first = commit('a');
    await waitForSync(1);
    const second = commit('b');
    await new Promise((r) => setImmediate(r));
    const third = commit('c');
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(held.length).toBe(1); // b and c are committed, waiting for the sync after the running one
    held.shift()!.done(null);
    await first;
    await waitForSync(1);
    expect(await settled(Promise.all([second, third]))).toBe(false);
    held.shift()!.done(null);
    await Promise.all([second, third]);
    expect(held.length).toBe(0);
  });

  it('a failed fdatasync fails the writes of its batch', async () => {
    const pending = commit('x');
    await waitForSync(1);
    const err = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    held.shift()!.done(err);
    await expect(pending).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('group commit without a WAL file to sync', () => {
  it('commits a durable batch with synchronous=FULL, as before', async () => {
    const db = new Database(':memory:');
    try {
      db.exec('CREATE TABLE t (v TEXT)');
      const group = new GroupCommit(db);
      const seen = await group.run(() => {
        db.prepare('INSERT INTO t (v) VALUES (?)').run('x');
        return Number(db.pragma('synchronous', { simple: true }));
      });
      expect(seen).toBe(2);
      await group.close();
    } finally {
      db.close();
    }
  });
});
