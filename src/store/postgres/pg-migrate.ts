import { appliedSchemaVersion, SCHEMA_MIGRATIONS_DDL } from '../schema-version.js';
import { PG_MIGRATIONS, type PgMigration } from './migrations.js';
import type { PgDatabase } from './pg-database.js';
import type { MigrateOptions } from '../types.js';

/** Key of the session advisory lock held while migrating: two nodes starting at once migrate once. */
const MIGRATION_LOCK = 0x6d656467; // 'medg'
/** Key of the lock held over the start-up steps after migrating (keys, test CA, demo practice). */
const STARTUP_LOCK = 0x6d676964; // 'mgid'

/**
 * Runs `work` under a session advisory lock on its own connection: every other node starting at the
 * same moment waits on it, then finds the work done. The lock goes with the connection, so a node
 * that dies mid-way releases it.
 */
export async function withPgStartupLock<T>(db: PgDatabase, work: () => Promise<T>): Promise<T> {
  const client = await db.dedicated();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [STARTUP_LOCK]);
    return await work();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [STARTUP_LOCK]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/** Settings key present while migration `m`'s after-commit step is owed. */
const afterCommitPending = (m: PgMigration): string => `migration.${m.version}.after_commit_pending`;

/**
 * Applies the pending migrations under an advisory lock. The second node to start waits for the
 * lock, then finds everything applied. Each migration runs in its own transaction with its record.
 */
export async function migratePostgres(db: PgDatabase, migrations: PgMigration[] = PG_MIGRATIONS, options: MigrateOptions = {}): Promise<number> {
  const client = await db.dedicated();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(SCHEMA_MIGRATIONS_DDL);
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    let current = appliedSchemaVersion(applied, migrations);
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        if (m.sql) await client.query(m.sql);
        await m.convert?.(client, options);
        // Its after-commit step is owed from now on: a marker in the same transaction, removed once
        // that step has run (below), so a start that fails or dies before it leaves it to the next one.
        if (m.afterCommit) await client.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [afterCommitPending(m), String(m.version)]);
        await client.query('INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)', [m.version, m.description, new Date().toISOString()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      current = m.version;
    }
    // Applied migrations whose after-commit step has not run yet (this start's, or a previous one's
    // that failed or died before it).
    for (const m of migrations) {
      if (!m.afterCommit) continue;
      if (!(await client.query('SELECT 1 FROM settings WHERE key = $1', [afterCommitPending(m)])).rowCount) continue;
      await m.afterCommit(client);
      await client.query('DELETE FROM settings WHERE key = $1', [afterCommitPending(m)]);
    }
    return current;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
