import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { ReadCache } from '../../src/store/postgres/read-cache.js';
import type { Account, DirectoryEntry } from '../../src/store/types.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const account = (address: string): Account => ({
  address, kind: 'person', disabled: false, wrappedPgpKey: 'w', recoveryWrappedPgpKey: 'r', pgpPublicKey: 'p', pgpFingerprint: 'f',
  certificatePem: 'c', wrappedCertKey: 'k', passwordVerifier: 'v', custodyWrappedPgpKey: null, wrappedMetaKey: null,
  createdAt: '2026-12-03T00:00:00.000Z', updatedAt: '2026-12-03T00:00:00.000Z',
});

const entry = (address: string, familyName: string): DirectoryEntry => ({
  address, mailboxType: 'PER', idType: '8', idValue: '10100000041', nationalId: '810100000041', civility: null, familyName, givenName: 'Jean',
  professionCode: '10', professionLabel: 'Médecin', specialtyCode: null, specialtyLabel: null, organisation: null, status: 'active',
  certificatePem: null, pgpPublicKey: null, source: 'test', updatedAt: '2026-12-03T00:00:00.000Z',
});

/** Polls `read` until `ok` (another node's notification is asynchronous): at most `ms`. */
async function within<T>(ms: number, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ReadCache', () => {
  it('does not keep a value loaded across an invalidation, and bypasses itself while not live', async () => {
    let live = true;
    const published: unknown[] = [];
    const cache = new ReadCache(() => live, (c) => published.push(c));
    let release: (v: string) => void = () => {};
    const slow = cache.get('settings', 'k', () => new Promise<string>((r) => { release = r; }));
    cache.written('settings', 'k'); // a write committed while the load was in flight
    release('old');
    expect(await slow).toBe('old');
    expect(cache.size).toBe(0);
    expect(published).toEqual([{ table: 'settings', key: 'k' }]);
    let loads = 0;
    expect(await cache.get('settings', 'k', async () => { loads++; return 'new'; })).toBe('new');
    expect(await cache.get('settings', 'k', async () => { loads++; return 'newer'; })).toBe('new');
    expect(loads).toBe(1);
    live = false;
    expect(await cache.get('settings', 'k', async () => { loads++; return 'newest'; })).toBe('newest');
    expect(loads).toBe(2);
    cache.drop('all');
    expect(cache.size).toBe(0);
  });
});

describe.skipIf(!pg)('PostgreSQL read cache across two nodes', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let n1: PgStore;
  let n2: PgStore;
  beforeAll(async () => {
    database = await createTestDatabase('cache');
    n1 = await PgStore.open({ url: database.url, nodeId: 'n1' });
    await n1.migrate();
    n2 = await PgStore.open({ url: database.url, nodeId: 'n2' });
  });
  afterAll(async () => {
    await n1?.close();
    await n2?.close();
    await database?.drop();
  });

  it('a repeated lookup costs no round trip, and another node\'s write is seen at once (accounts, directory, settings, whitelist)', async () => {
    const a = 'cache.doctor@x.test';
    expect(await n1.accounts.get(a)).toBeUndefined(); // a miss is cached too
    const spy = vi.spyOn(pgDriver.Pool.prototype, 'query');
    try {
      expect(await n1.accounts.get(a)).toBeUndefined();
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    await n2.accounts.create(account(a));
    expect((await within(2000, () => n1.accounts.get(a), (v) => v !== undefined))?.address).toBe(a);
    await n1.accounts.get(a);
    await n2.accounts.update(a, { disabled: true });
    expect((await within(2000, () => n1.accounts.get(a), (v) => v?.disabled === true))?.disabled).toBe(true);

    await n1.directory.get(a);
    await n2.directory.upsert(entry(a, 'Martin'));
    expect((await within(2000, () => n1.directory.get(a), (v) => v !== undefined))?.familyName).toBe('Martin');
    await n2.directory.upsert(entry(a, 'Martin-Durand'));
    expect((await within(2000, () => n1.directory.get(a), (v) => v?.familyName === 'Martin-Durand'))?.familyName).toBe('Martin-Durand');
    await n2.directory.setStatus(a, 'suspended');
    expect((await within(2000, () => n1.directory.get(a), (v) => v?.status === 'suspended'))?.status).toBe('suspended');

    expect(await n1.settings.get('recordServer:' + a)).toBeUndefined();
    await n2.settings.set('recordServer:' + a, '1');
    expect(await within(2000, () => n1.settings.get('recordServer:' + a), (v) => v === '1')).toBe('1');

    expect(await n1.directory.isWhitelisted('cache.test')).toBe(false);
    await n2.directory.replaceWhitelist(['cache.test']);
    expect(await within(2000, () => n1.directory.isWhitelisted('cache.test'), (v) => v)).toBe(true);
    await n2.directory.replaceWhitelist([]);
    expect(await within(2000, () => n1.directory.isWhitelisted('cache.test'), (v) => !v)).toBe(false);
  });

  it('a message this node just committed is read from memory, but not once another node has expunged it and its blob went', async () => {
    const sealed = Buffer.from('sealed bytes committed on n1');
    const res = await n1.mail.commit(sealed, [{ owner: 'blob.reader@x.test', mailbox: 'INBOX', deliveryKey: 'rb1' }]);
    const spy = vi.spyOn(pgDriver.Pool.prototype, 'query');
    try {
      expect((await n1.mail.getBlob(res.blobId))?.equals(sealed)).toBe(true);
      const handle = (await n1.mail.openBlob(res.blobId))!;
      expect(handle.size).toBe(sealed.length);
      expect((await handle.head(6)).toString()).toBe('sealed');
      // Only existence checks went to the database (one per call), never a read of the bytes.
      expect(spy.mock.calls.length).toBe(2);
      expect(spy.mock.calls.every((c) => /^SELECT 1 FROM blobs/.test(String((c[0] as { text?: string }).text ?? c[0])))).toBe(true);
    } finally {
      spy.mockRestore();
    }
    const inbox = (await n2.mail.getMailbox('blob.reader@x.test', 'INBOX'))!;
    await n2.mail.setFlags(inbox.id, [res.placed[0]!.uid], 'add', ['\\Deleted']);
    expect(await n2.mail.expunge(inbox.id)).toEqual([res.placed[0]!.uid]);
    expect(await n1.mail.getBlob(res.blobId)).toBeUndefined();
    expect(await n1.mail.openBlob(res.blobId)).toBeUndefined();
  });

  it('many keys of one table invalidated at once travel as one table-wide notification, which empties that table here', async () => {
    const listener = new pgDriver.Client({ connectionString: database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => { if (m.channel === 'medgate_cache') heard.push(m.payload ?? ''); });
    await listener.query('LISTEN medgate_cache');
    try {
      const keys = Array.from({ length: 40 }, (_v, i) => `bulk${i}@x.test`);
      for (const k of keys) expect(await n1.directory.get(k)).toBeUndefined();
      const cachedBefore = n1.cache.size;
      // As an import does: rows written, then their keys invalidated in one turn of the event loop.
      for (const k of keys) await n2.directory.upsert(entry(k, 'Bulk'));
      for (const k of keys) n2.cache.written('directory', k);
      await within(2000, async () => heard.some((h) => !('k' in (JSON.parse(h) as object))), (v) => v);
      const wide = heard.map((h) => JSON.parse(h) as { t: string; k?: string }).filter((h) => h.k === undefined);
      expect(wide.length).toBeGreaterThanOrEqual(1); // the 40 in one batch (the upserts' own may have joined up too)
      expect(wide.every((w) => w.t === 'directory')).toBe(true);
      expect(heard.length).toBeLessThan(2 * keys.length); // not one per key for the explicit 40
      expect(n1.cache.size).toBeLessThan(cachedBefore);
      for (const k of keys) expect((await n1.directory.get(k))?.familyName).toBe('Bulk');
    } finally {
      await listener.end();
    }
  });

  it('another node reads a blob it did not commit from the database: one chunk with its handle, several chunk by chunk', async () => {
    const small = Buffer.from('one chunk of sealed bytes');
    const large = Buffer.concat([Buffer.alloc(256 * 1024, 1), Buffer.from('second chunk')]);
    const a = await n1.mail.commit(small, [{ owner: 'blob.other@x.test', mailbox: 'INBOX', deliveryKey: 'bo1' }]);
    const b = await n1.mail.commit(large, [{ owner: 'blob.other@x.test', mailbox: 'INBOX', deliveryKey: 'bo2' }]);
    const spy = vi.spyOn(pgDriver.Pool.prototype, 'query');
    let smallQueries = 0;
    try {
      const h = (await n2.mail.openBlob(a.blobId))!;
      expect([h.size, (await h.head(h.size)).equals(small), (await h.head(3)).toString()]).toEqual([small.length, true, 'one']);
      const pieces: Buffer[] = [];
      for await (const p of h.stream() as AsyncIterable<Buffer>) pieces.push(p);
      expect(Buffer.concat(pieces).equals(small)).toBe(true);
      smallQueries = spy.mock.calls.length;
    } finally {
      spy.mockRestore();
    }
    expect(smallQueries).toBe(1); // size and bytes in the query that opened it
    const h = (await n2.mail.openBlob(b.blobId))!;
    expect(h.size).toBe(large.length);
    const pieces: Buffer[] = [];
    for await (const p of h.stream() as AsyncIterable<Buffer>) pieces.push(p);
    expect(pieces).toHaveLength(2);
    expect(Buffer.concat(pieces).equals(large)).toBe(true);
    expect((await h.head(256 * 1024 + 6)).subarray(-6).toString()).toBe('second');
    expect((await n2.mail.getBlob(b.blobId))?.equals(large)).toBe(true);
  });

  it('a value cached on the writing node itself is replaced at once, without waiting for a notification', async () => {
    const a = 'self.writer@x.test';
    expect(await n1.accounts.get(a)).toBeUndefined();
    await n1.accounts.create(account(a));
    expect((await n1.accounts.get(a))?.address).toBe(a);
    await n1.accounts.update(a, { disabled: true });
    expect((await n1.accounts.get(a))?.disabled).toBe(true);
  });

  it('while the listening connection is lost, nothing is served from the cache: a write made meanwhile is seen', async () => {
    const key = 'outage.setting';
    await n2.settings.set(key, 'before');
    expect(await within(2000, () => n1.settings.get(key), (v) => v === 'before')).toBe('before');
    // Cut n1's LISTEN connection from the server side: the notifications sent meanwhile are lost.
    const admin = new pgDriver.Client({ connectionString: database.url });
    await admin.connect();
    try {
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
      expect(killed.rowCount).toBeGreaterThanOrEqual(2); // both nodes' listeners
    } finally {
      await admin.end();
    }
    await within(2000, async () => n1.changes.listening, (v) => !v);
    // n2 is not listening either: its notification may be lost; n1 must read the database all the same.
    await n2.settings.set(key, 'during');
    expect(await n1.settings.get(key)).toBe('during');
    await n2.settings.set(key, 'during, again');
    expect(await n1.settings.get(key)).toBe('during, again');
    // Listening again, the cache starts from empty.
    expect(await within(5000, async () => n1.changes.listening, (v) => v)).toBe(true);
    expect(await n1.settings.get(key)).toBe('during, again');
  });
});
