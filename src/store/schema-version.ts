/**
 * The schema bookkeeping both stores share: the `schema_migrations` table (the same DDL in both
 * dialects) and the refusal to run on a schema newer than this medgate. Each store applies its own
 * migrations, in its own dialect and transaction, from the version this returns.
 */
import { MedgateError } from '../errors.js';

export const SCHEMA_MIGRATIONS_DDL = 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)';

/** The version the applied migrations reach (0: none), after checking that this medgate knows it. */
export function appliedSchemaVersion(applied: ReadonlySet<number>, migrations: ReadonlyArray<{ version: number }>): number {
  const current = applied.size ? Math.max(...applied) : 0;
  const known = Math.max(0, ...migrations.map((m) => m.version));
  if (current > known) {
    throw new MedgateError('STORE_SCHEMA_TOO_NEW',
      `the database schema is at version ${current} but this medgate only knows up to ${known}: upgrade medgate`);
  }
  return current;
}
