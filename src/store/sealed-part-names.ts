/**
 * The part-name migration both stores run (SQLite 13, PostgreSQL 4): an older medgate kept each
 * filed document's part name — an attachment's file name, often the patient's name — in clear in
 * `filing_documents.part`. The migration replaces it, in the transaction that changes the schema,
 * by its keyed hash and its encryption under the filing data key (src/filing/part-names.ts), and
 * leaves no copy of the old value in the table's files. It needs the key only when rows exist.
 * The same migration encrypts `author` (now `author_enc`): an unverified author is whatever a
 * forwarded message's From shows, which may be a patient writing to the doctor.
 */
import { MedgateError } from '../errors.js';
import type { MigrateOptions, MigrationKeys } from './types.js';

/** The keys to seal `rows` clear part names with; refuses, saying what to do, when there are none. */
export function keysToSeal(options: MigrateOptions, rows: number): MigrationKeys | undefined {
  if (!rows) return undefined;
  const keys = options.keys?.();
  if (!keys) {
    throw new MedgateError('STORE_MIGRATION_NEEDS_KEY',
      `the database holds ${rows} filed document(s) whose part names an older medgate kept in clear (with their authors); sealing them needs the filing data key (keys/filing-data.key under keysDir), which was not found: restore it from backup, then start medgate again (nothing was changed)`,
      { rows });
  }
  return keys;
}
