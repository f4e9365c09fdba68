import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgChangeFeed } from '../../src/store/postgres/change-feed.js';
import { PgLoginFailureRepo } from '../../src/store/postgres/login-failures.js';
import { PgDatabase } from '../../src/store/postgres/pg-database.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { migratePostgres } from '../../src/store/postgres/pg-migrate.js';
import type { StoredMailboxChange } from '../../src/store/types.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

describe.skipIf(!pg)('PostgreSQL store foundation (migrations, change feed, login failures)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: PgDatabase;
  let b: PgDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    a = new PgDatabase({ url: database.url, poolSize: 4 });
    b = new PgDatabase({ url: database.url, poolSize: 4 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  it('two nodes migrating at once apply each migration once', async () => {
    const versions = PG_MIGRATIONS.map((m) => m.version);
    expect(versions.length).toBeGreaterThanOrEqual(3); // sanity: 1 base, 2 author, 3 treating doctor
    const [va, vb] = await Promise.all([migratePostgres(a), migratePostgres(b)]);
    expect(va).toBe(Math.max(...versions));
    expect(vb).toBe(Math.max(...versions));
    const rows = await a.rows<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(versions);
  });

  it('refuses a schema newer than it knows', async () => {
    await a.query("INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'future', 'now')");
    await expect(migratePostgres(b)).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' });
    await a.query('DELETE FROM schema_migrations WHERE version = 99');
  });

  it('the audit log is append-only in the database', async () => {
    await a.query("INSERT INTO audit_log (seq, at, actor, action, outcome, message_id, details, prev_hash, hash) VALUES (1, 'x', 'a', 'b', 'ok', NULL, '{}', '', 'h')");
    await expect(a.query('UPDATE audit_log SET actor = $1', ['z'])).rejects.toThrow(/append-only/);
    await expect(a.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
  });

  it('a change published on one node reaches the other, not itself', async () => {
    const feedA = new PgChangeFeed(a, 'node-a');
    const feedB = new PgChangeFeed(b, 'node-b');
    await feedA.start();
    await feedB.start();
    const heardA: StoredMailboxChange[] = [];
    const heardB: StoredMailboxChange[] = [];
    feedA.onRemote((c) => heardA.push(c));
    feedB.onRemote((c) => heardB.push(c));
    feedA.publish({ type: 'exists', mailboxId: 7, uid: 3 });
    feedA.publish({ type: 'expunge', mailboxId: 7, uids: Array.from({ length: 1200 }, (_, i) => i + 1) });
    await expect.poll(() => heardB.length, { timeout: 5000 }).toBe(4);
    expect(heardB[0]).toEqual({ type: 'exists', mailboxId: 7, uid: 3 });
    expect(heardB.slice(1).flatMap((c) => (c.type === 'expunge' ? c.uids : []))).toHaveLength(1200);
    expect(heardA).toEqual([]);
    await feedA.close();
    await feedB.close();
  });

  it('login failures count across nodes, within the window', async () => {
    const fa = new PgLoginFailureRepo(a);
    const fb = new PgLoginFailureRepo(b);
    const now = Date.now();
    expect(await fa.record('address:192.0.2.1', 60_000, now - 120_000)).toBe(1);
    expect(await fa.record('address:192.0.2.1', 60_000, now)).toBe(1);
    expect(await fb.record('address:192.0.2.1', 60_000, now)).toBe(2);
    expect(await fa.count('address:192.0.2.1', 60_000, now)).toBe(2);
    expect(await fb.count('address:192.0.2.2', 60_000, now)).toBe(0);
    await fb.clear('address:192.0.2.1');
    expect(await fa.count('address:192.0.2.1', 60_000, now)).toBe(0);
  });

  it('an unreachable server is STORE_UNAVAILABLE, never a raw driver error', async () => {
    const dead = new PgDatabase({ url: 'postgres://postgres:x@127.0.0.1:1/none', poolSize: 1 });
    await expect(dead.query('SELECT 1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(dead.tx(async (c) => c.query('SELECT 1'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await dead.close();
  });
});
