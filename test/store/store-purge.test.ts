/**
 * `Store.purgeFreedSpace` (`medgate store purge`) when it cannot do its work: it says so with
 * STORE_PURGE_FAILED and changes nothing, never reports a rewrite that did not happen. What it
 * removes from the files is tested beside a serving gateway in test/imap/folder-names-at-rest.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pgDriver from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { foundAtRest, postgresFilesAtRest } from '../helpers/at-rest.js';
import { tempDir } from '../helpers/gateway.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

describe('store purge on SQLite', () => {
  it('another process holding the write lock: STORE_PURGE_FAILED naming SQLITE_BUSY, then it works once released', async () => {
    const dir = tempDir('purge-');
    const file = path.join(dir, 'medgate.db');
    const store = SqliteStore.open(file);
    try {
      await store.migrate();
      await store.mail.ensureMailbox('doc@x.test', 'INBOX');
      // Not five seconds of test: the lock is what is under test, not the timeout.
      store.db.pragma('busy_timeout = 200');
      const other = new Database(file);
      other.exec('BEGIN IMMEDIATE');
      try {
        await expect(store.purgeFreedSpace({ waitMs: 200 })).rejects.toMatchObject({ code: 'STORE_PURGE_FAILED', message: expect.stringContaining('SQLITE_BUSY') });
      } finally {
        other.exec('ROLLBACK');
        other.close();
      }
      const report = await store.purgeFreedSpace();
      expect(report.fileBytes!.after).toBeGreaterThan(0);
      expect(fs.statSync(`${file}-wal`).size).toBeLessThan(64 * 1024); // emptied, then the marker's removal
      expect((await store.mail.listMailboxes('doc@x.test')).map((m) => m.name)).toContain('INBOX');
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!pg)('store purge on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => { database = await createTestDatabase('purge'); });
  afterAll(async () => { await database?.drop(); });

  it('a role that does not own the tables, a session with an older snapshot: the purge fails saying which; the owner rewrites them, pg_statistic only as the database\'s owner', async () => {
    const owner = await PgStore.open({ url: database.url, nodeId: 'owner' });
    const admin = new pgDriver.Client({ connectionString: database.url });
    await admin.connect();
    const role = `purger_${process.pid}`;
    try {
      await owner.migrate();
      await owner.mail.ensureMailbox('doc@x.test', 'INBOX');
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'purger-pw'`);
      await admin.query(`GRANT SELECT ON mailboxes, orphan_subscriptions TO ${role}`);
      const url = new URL(database.url);
      url.username = role;
      url.password = 'purger-pw';
      const other = await PgStore.open({ url: url.toString(), nodeId: 'other' });
      try {
        await expect(other.purgeFreedSpace()).rejects.toMatchObject({ code: 'STORE_PURGE_FAILED', message: expect.stringContaining('mailboxes was not rewritten') });
      } finally {
        await other.close();
      }
      expect(await owner.purgeFreedSpace()).toEqual({ tables: ['mailboxes', 'orphan_subscriptions'], statistics: 'rewritten' });
      // The tables' owner, neither a superuser nor the database's owner: the tables are rewritten,
      // pg_statistic is not, and the report says so (the command then exits 1 asking for one of them).
      await admin.query(`ALTER TABLE mailboxes OWNER TO ${role}`);
      await admin.query(`ALTER TABLE orphan_subscriptions OWNER TO ${role}`);
      const tablesOwner = await PgStore.open({ url: url.toString(), nodeId: 'tables-owner' });
      try {
        expect(await tablesOwner.purgeFreedSpace()).toEqual({ tables: ['mailboxes', 'orphan_subscriptions'], statistics: 'not-permitted' });
      } finally {
        await tablesOwner.close();
        await admin.query('ALTER TABLE mailboxes OWNER TO CURRENT_USER');
        await admin.query('ALTER TABLE orphan_subscriptions OWNER TO CURRENT_USER');
      }
      expect((await owner.mail.listMailboxes('doc@x.test')).map((m) => m.name)).toContain('INBOX');

      // A session whose snapshot is older than a rename still sees the old name: VACUUM FULL would
      // copy that row version into the new file. The purge waits for it, then fails saying so.
      await owner.mail.ensureMailbox('doc@x.test', 'Cardio DUPONT');
      const reader = new pgDriver.Client({ connectionString: database.url, application_name: 'old-reader' });
      await reader.connect();
      try {
        await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await reader.query('SELECT count(*) FROM mailboxes');
        await owner.mail.renameMailbox('doc@x.test', 'Cardio DUPONT', '~renamed');
        await expect(owner.purgeFreedSpace({ waitMs: 300 })).rejects.toMatchObject({ code: 'STORE_PURGE_FAILED', message: expect.stringContaining('old-reader') });
        expect(foundAtRest(await postgresFilesAtRest(database.url), 'Cardio DUPONT')).toBe(true);
      } finally {
        await reader.query('COMMIT');
        await reader.end();
      }
      await owner.purgeFreedSpace();
      expect(foundAtRest(await postgresFilesAtRest(database.url), 'Cardio DUPONT')).toBe(false);
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
      await owner.close();
    }
  });
});
