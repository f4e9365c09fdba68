/**
 * SQLite's WAL checkpoints on a thread of their own (src/store/sqlite/checkpointer.ts), as `serve`
 * sets the store up (backgroundUpkeep):
 * - the serving connection never checkpoints: 8 MB of messages committed leave the database file
 *   as it was (SQLite's default, 1000 pages, would have copied them during those commits);
 * - the checkpoint thread copies them into the database file, and every message reads back, also
 *   after the store is closed and opened again;
 * - the thread ends once idle, and starts again with the next checkpoint; a WAL under SQLite's own
 *   threshold (1000 pages: a gateway's start-up writes) starts none;
 * - under a steady stream of commits the WAL starts over (the catch-up with writes held) instead of
 *   growing by every commit;
 * - a thread that cannot work gives the checkpoints back to the connection (SQLite's default).
 * The built store (dist/) is used: the thread loads the built checkpoint-worker.js.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type * as StoreModule from '../../src/store/sqlite/sqlite-store.js';
import type * as CheckpointerModule from '../../src/store/sqlite/checkpointer.js';
import { tempDir } from '../helpers/gateway.js';
import { until } from '../helpers/until.js';

const { SqliteStore } = (await import(new URL('../../dist/store/sqlite/sqlite-store.js', import.meta.url).href)) as typeof StoreModule;
const { Checkpointer } = (await import(new URL('../../dist/store/sqlite/checkpointer.js', import.meta.url).href)) as typeof CheckpointerModule;

const OWNER = 'paul.demo@cabinet-antony.medgate.test';


describe('SQLite WAL checkpoints off the serving thread', () => {
  const dirs: string[] = [];
  afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

  /** A store in a folder of its own, migrated (the folder goes after the test). */
  const freshStore = async (): Promise<{ dir: string; file: string; store: StoreModule.SqliteStore }> => {
    const dir = tempDir('medgate-ckpt-');
    dirs.push(dir);
    const file = path.join(dir, 'm.db');
    const store = SqliteStore.open(file);
    await store.migrate();
    return { dir, file, store };
  };

  it('the serving connection never checkpoints; the thread copies the WAL into the database; all reads back', async () => {
    const { file, store } = await freshStore();
    const fallbacks: string[] = [];
    // A delay longer than the test: only runNow() checkpoints, so what the commits did is seen alone.
    store.backgroundUpkeep((reason) => fallbacks.push(reason), { delayMs: 600_000, idleMs: 300 });
    const ckpt = store.walCheckpointer!;
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = fs.statSync(file).size;
    const body = Buffer.alloc(56 * 1024, 0x41);
    for (let i = 0; i < 150; i++) {
      await store.mail.commit(Buffer.concat([Buffer.from(`message ${i}\r\n\r\n`), body]), [{ owner: OWNER, mailbox: 'INBOX', deliveryKey: `k${i}` }]);
    }
    // 8.4 MB committed: all in the WAL, none copied by the serving connection.
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(8_000_000);
    expect(fs.statSync(file).size).toBe(before);
    expect(ckpt.threadRunning).toBe(false);

    await ckpt.runNow();
    expect(ckpt.stats.runs).toBe(1);
    expect(ckpt.stats.checkpointed).toBeGreaterThan(2000); // pages of 4 KB
    expect(ckpt.stats.checkpointed).toBe(ckpt.stats.lastLog); // everything in the WAL was copied
    expect(fs.statSync(file).size).toBeGreaterThan(8_000_000);
    // The thread ends once idle; the next checkpoint starts one again.
    expect(await until(() => !ckpt.threadRunning, 5000)).toBe(true);
    await store.mail.commit(Buffer.from('after\r\n\r\n'), [{ owner: OWNER, mailbox: 'INBOX', deliveryKey: 'after' }]);
    await ckpt.runNow();
    expect(ckpt.stats.runs).toBe(2);
    expect(fallbacks).toEqual([]);

    const inbox = (await store.mail.listMailboxes(OWNER)).find((m) => m.name === 'INBOX')!;
    expect(await store.mail.listMessages(inbox.id)).toHaveLength(151);
    await store.close();
    const again = SqliteStore.open(file);
    const reopened = (await again.mail.listMailboxes(OWNER)).find((m) => m.name === 'INBOX')!;
    const messages = await again.mail.listMessages(reopened.id);
    expect(messages).toHaveLength(151);
    const last = await again.mail.getBlob(messages[149]!.blobId);
    expect(last?.subarray(0, 13).toString()).toBe('message 149\r\n');
    await again.close();
  }, 60_000);

  it('under a steady stream of commits the WAL starts over instead of growing without end', async () => {
    // One IMAP client that never stops (imaptest's long session): a commit every millisecond or so,
    // so commits always land while a checkpoint copies. The WAL grew by every commit (460 MB in 20 s)
    // until the checkpointer caught up with the writes held.
    const { file, store } = await freshStore();
    store.backgroundUpkeep(() => undefined, { delayMs: 20, idleMs: 5000 });
    const body = Buffer.alloc(12 * 1024, 0x43);
    let n = 0;
    let written = 0;
    let largestWal = 0;
    const deadline = Date.now() + 15_000;
    while (written < 64 * 1024 * 1024 && Date.now() < deadline) {
      await store.mail.commit(Buffer.concat([Buffer.from(`steady ${n}\r\n\r\n`), body]), [{ owner: OWNER, mailbox: 'INBOX', deliveryKey: `s${n}` }]);
      n++;
      written += body.length;
      largestWal = Math.max(largestWal, fs.statSync(`${file}-wal`).size);
    }
    expect(written).toBeGreaterThan(16 * 1024 * 1024); // the stream really was long
    // The WAL never held more than a part of what went through it: it was written over, not extended.
    expect(largestWal).toBeLessThan(written / 3);
    expect(store.walCheckpointer!.stats.caughtUp).toBeGreaterThan(0);
    const inbox = (await store.mail.listMailboxes(OWNER)).find((m) => m.name === 'INBOX')!;
    expect(await store.mail.listMessages(inbox.id)).toHaveLength(n);
    await store.close();
  }, 60_000);

  it('a commit schedules the checkpoint by itself once the WAL reaches 1000 pages; small writes start no thread', async () => {
    const { store } = await freshStore();
    store.backgroundUpkeep(() => undefined, { delayMs: 100, idleMs: 200 });
    // A gateway's start-up writes: a small WAL, no checkpoint, no thread (idle memory).
    await store.mail.commit(Buffer.from('one\r\n\r\n'), [{ owner: OWNER, mailbox: 'INBOX', deliveryKey: 'one' }]);
    await new Promise((r) => setTimeout(r, 400));
    expect(store.walCheckpointer!.stats.runs).toBe(0);
    expect(store.walCheckpointer!.threadRunning).toBe(false);
    const body = Buffer.alloc(56 * 1024, 0x42);
    for (let i = 0; i < 80; i++) await store.mail.commit(Buffer.concat([Buffer.from(`m ${i}\r\n\r\n`), body]), [{ owner: OWNER, mailbox: 'INBOX', deliveryKey: `m${i}` }]);
    expect(await until(() => store.walCheckpointer!.stats.runs >= 1, 10_000)).toBe(true);
    expect(await until(() => !store.walCheckpointer!.threadRunning, 5000)).toBe(true);
    await store.close();
  }, 30_000);

  it('a thread that cannot open the database gives the checkpoints back to the connection', async () => {
    const { dir, store } = await freshStore();
    const reasons: string[] = [];
    const ckpt = new Checkpointer(store.db, path.join(dir, 'no-such.db'), { delayMs: 10, idleMs: 100, onFallback: (r) => reasons.push(r) });
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await ckpt.runNow();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/ended|no-such|exist/i);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await ckpt.close();
    await store.close();
  }, 30_000);
});
