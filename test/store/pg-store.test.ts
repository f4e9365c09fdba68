import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore, resolveStore } from '../../src/store/index.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const base = { dataDir: '/tmp/x', store: { driver: 'sqlite', sqlite: { file: 'm.db' } } } as unknown as Parameters<typeof resolveStore>[0];

describe('store selection (openStore)', () => {
  it('keeps SQLite by default, takes MEDGATE_DATABASE_URL over the config, and refuses postgres without a URL', () => {
    expect(resolveStore(base, {})).toEqual({ driver: 'sqlite', file: '/tmp/x/m.db' });
    expect(resolveStore(base, { MEDGATE_DATABASE_URL: 'postgres://u@h/db' })).toEqual({ driver: 'postgres', url: 'postgres://u@h/db', poolSize: 10, connectTimeoutSeconds: 5, source: 'MEDGATE_DATABASE_URL' });
    const pgConfig = { ...base, store: { driver: 'postgres', sqlite: { file: 'm.db' }, postgres: { url: 'postgres://c@h/db', poolSize: 4 } } } as typeof base;
    expect(resolveStore(pgConfig, {})).toEqual({ driver: 'postgres', url: 'postgres://c@h/db', poolSize: 4, connectTimeoutSeconds: 5, source: 'store.postgres.url' });
    expect(resolveStore(pgConfig, { MEDGATE_DATABASE_URL: 'postgres://env@h/db' })).toMatchObject({ url: 'postgres://env@h/db', poolSize: 4 });
    const noUrl = { ...base, store: { driver: 'postgres', sqlite: { file: 'm.db' }, postgres: { poolSize: 10 } } } as typeof base;
    expect(() => resolveStore(noUrl, {})).toThrow(expect.objectContaining({ code: 'STORE_CONFIG_INVALID' }));
  });

  it('refuses a URL that is not postgres://', async () => {
    await expect(PgStore.open({ url: 'mysql://x', nodeId: 'n' })).rejects.toMatchObject({ code: 'STORE_CONFIG_INVALID' });
  });
});

describe.skipIf(!pg)('PostgreSQL store (openStore, unreachable server)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => { database = await createTestDatabase(); });
  afterAll(async () => { await database?.drop(); });

  it('openStore with MEDGATE_DATABASE_URL opens and migrates PostgreSQL', async () => {
    const store = await openStore(base, { env: { MEDGATE_DATABASE_URL: database.url }, nodeId: 'n1' });
    try {
      expect(store.kind).toBe('postgres');
      expect(store.changes).toBeDefined();
      expect(await store.migrate()).toBe(Math.max(...PG_MIGRATIONS.map((m) => m.version)));
      await store.ping();
    } finally {
      await store.close();
    }
  });

  it('the message path costs few round trips: commit() in memory is one statement (no BEGIN/COMMIT)', async () => {
    const store = await PgStore.open({ url: database.url, nodeId: 'rt' });
    try {
      await store.migrate();
      await store.mail.commit(Buffer.from('warm'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'w' }, { owner: 'a@x.test', mailbox: 'Sent', deliveryKey: 'ws' }]);
      const spy = vi.spyOn(pgDriver.Client.prototype, 'query');
      try {
        await store.mail.commit(Buffer.from('counted'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'c' }, { owner: 'a@x.test', mailbox: 'Sent', deliveryKey: 'cs' }], {
          id: 'rt-q', envelopeFrom: 'a@x.test', messageId: '<rt@x>', expiresAt: new Date(Date.now() + 3600_000).toISOString(), ret: null, envid: null,
          recipients: [{ recipient: 'c@y.test', notify: null, orcpt: null }],
        });
        expect(spy.mock.calls.length).toBe(1);
        spy.mockClear();
        const inbox = (await store.mail.getMailbox('a@x.test', 'INBOX'))!;
        spy.mockClear();
        await store.mail.putMeta('a@x.test', 'b', 'm');
        await store.queue.updateRecipient('rt-q', 'c@y.test', { attempts: 1 });
        expect(spy.mock.calls.length).toBe(2);
        spy.mockClear();
        await store.mail.setFlags(inbox.id, [1, 2], 'add', ['\\Seen']);
        expect(spy.mock.calls.length).toBe(5); // BEGIN, lock, read, update, COMMIT
      } finally {
        spy.mockRestore();
      }
    } finally {
      await store.close();
    }
  });

  it('a prepared statement whose table another node altered is prepared afresh: the reads go on', async () => {
    const own = await createTestDatabase('plan');
    const store = await PgStore.open({ url: own.url, poolSize: 4, nodeId: 'plan' });
    const admin = new pgDriver.Client({ connectionString: own.url });
    try {
      await store.migrate();
      await store.mail.ensureMailbox('a@x.test', 'INBOX');
      // Prepared (`SELECT * FROM mailboxes …`) on every connection of the pool.
      await Promise.all(Array.from({ length: 8 }, () => store.mail.listMailboxes('a@x.test')));
      await admin.connect();
      // A later schema (a rolling upgrade's migration on another node) changes what `SELECT *` returns.
      await admin.query('ALTER TABLE mailboxes ADD COLUMN added_by_a_newer_node integer');
      const lists = await Promise.all(Array.from({ length: 8 }, () => store.mail.listMailboxes('a@x.test')));
      expect(lists.map((l) => l.map((m) => m.name))).toEqual(Array.from({ length: 8 }, () => ['INBOX']));
    } finally {
      await admin.end().catch(() => undefined);
      await store.close();
      await own.drop();
    }
  });

  it('an unreachable server: open still returns, ping and reads are STORE_UNAVAILABLE, never a driver error', async () => {
    const codes: string[] = [];
    const store = await PgStore.open({ url: 'postgres://postgres:x@127.0.0.1:1/none', poolSize: 1, nodeId: 'n', onError: (c) => codes.push(c) });
    try {
      await expect(store.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.mail.getMailbox('a@x.test', 'INBOX')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.mail.commit(Buffer.from('x'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'k' }])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(codes.length).toBeGreaterThan(0);
      expect(codes.join(' ')).not.toMatch(/SELECT|INSERT/);
    } finally {
      await store.close();
    }
  });
});
