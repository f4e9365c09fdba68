/**
 * PostgreSQL migration 4 (src/store/sealed-part-names.ts): `part_hash`/`part_enc` and `author_enc`
 * filled for every row from the clear `part` and `author`, both then dropped (with the UNIQUE
 * (message_id, part) index), and the table rewritten by CLUSTER, which one table allows inside a
 * transaction: DROP COLUMN alone leaves the old values in every tuple on disk, and UPDATE leaves them
 * in the old versions. The rewrite writes new files, every dropped column nulled, and the old files
 * are removed at COMMIT. It still copies the versions this transaction's UPDATE replaced (dead only
 * once it commits): that is why nothing is updated in place, every clear value sits in a column
 * that is dropped. All of it one transaction (migratePostgres): all or nothing.
 */
import type pg from 'pg';
import { MedgateError } from '../../errors.js';
import { keysToSeal } from '../sealed-part-names.js';
import type { MigrateOptions } from '../types.js';

const BATCH = 500;

export async function sealPartNamesPostgres(c: pg.ClientBase, options: MigrateOptions): Promise<void> {
  // Taken first: nothing files a document (another node still on the old code) while the rows are read.
  await c.query('LOCK TABLE filing_documents IN ACCESS EXCLUSIVE MODE');
  const count = Number((await c.query<{ n: string }>('SELECT COUNT(*) AS n FROM filing_documents')).rows[0]!.n);
  const keys = keysToSeal(options, count);
  await c.query('ALTER TABLE filing_documents ADD COLUMN part_hash TEXT, ADD COLUMN part_enc TEXT, ADD COLUMN author_enc TEXT');
  for (let after = '-1'; keys;) {
    const rows = (await c.query<{ seq: string; message_id: string; part: string; author: string | null }>(
      'SELECT seq, message_id, part, author FROM filing_documents WHERE seq > $1 ORDER BY seq LIMIT $2', [after, BATCH])).rows;
    if (!rows.length) break;
    const sealed = rows.map((r) => keys.sealPartName(r.message_id, r.part));
    await c.query(`UPDATE filing_documents d SET part_hash = s.h, part_enc = s.e, author_enc = s.a
      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS s(seq, h, e, a) WHERE d.seq = s.seq`,
    [rows.map((r) => r.seq), sealed.map((s) => s.partHash), sealed.map((s) => s.partEnc), rows.map((r) => (r.author === null ? null : keys.encrypt(r.author)))]);
    after = rows.at(-1)!.seq;
  }
  await c.query(`ALTER TABLE filing_documents DROP COLUMN part, DROP COLUMN author;
    ALTER TABLE filing_documents ALTER COLUMN part_hash SET NOT NULL, ALTER COLUMN part_enc SET NOT NULL;
    ALTER TABLE filing_documents ADD CONSTRAINT filing_documents_message_id_part_hash_key UNIQUE (message_id, part_hash);
    CLUSTER filing_documents USING filing_documents_pkey;
    ALTER TABLE filing_documents SET WITHOUT CLUSTER;`);
}

/**
 * The planner's statistics held the dropped column's most common values (any ANALYZE, autovacuum's
 * included, samples it): DROP COLUMN deletes them, but the deleted row stays readable in
 * pg_statistic's file until that table is rewritten, by VACUUM FULL, outside any transaction, and
 * only by a superuser. Under another role it is not done here: docs/operations.md tells the operator
 * to run it once. A start that fails or dies before it leaves it owed to the next (migratePostgres).
 */
export async function purgeOldPartStatistics(c: pg.ClientBase): Promise<void> {
  const superuser = (await c.query<{ s: boolean }>('SELECT rolsuper AS s FROM pg_roles WHERE rolname = current_user')).rows[0]?.s;
  if (!superuser) return;
  // VACUUM FULL waits for every transaction that has read pg_statistic (any planned query) to end:
  // bounded, so that a start fails saying why instead of hanging; the next start tries again.
  await c.query("SET lock_timeout = '5s'");
  try {
    await c.query('VACUUM (FULL) pg_statistic');
  } catch (err) {
    throw new MedgateError('STORE_STATISTICS_PURGE_PENDING',
      `migration 4 is applied, but pg_statistic could not be rewritten (${(err as Error).message}): it may still hold old attachment names; start again when no long transaction runs, or run VACUUM (FULL) pg_statistic as a superuser`);
  } finally {
    await c.query('RESET lock_timeout').catch(() => undefined);
  }
}
