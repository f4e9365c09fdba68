/**
 * What a store holds at rest, as raw bytes: what a stolen disk or a database dump would show. The
 * one place tests read a database other than through the store interfaces, and only to search it
 * for what must never be there in clear (a patient's name, a subject): an interface shows what the
 * code reads back, not what else was written. SQLite: the database file and its WAL; PostgreSQL:
 * every row of every table, as text. And, to play someone who can write the store, the one place
 * tests change a store other than through its interfaces (replaceBlobAtRest).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { MedgateConfig } from '../../src/config/schema.js';

export type StoreLocation = { sqliteFile: string } | { postgresUrl: string };

export async function bytesAtRest(where: StoreLocation): Promise<Buffer[]> {
  if ('sqliteFile' in where) {
    return [where.sqliteFile, `${where.sqliteFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f));
  }
  const c = new pg.Client({ connectionString: where.postgresUrl });
  await c.connect();
  try {
    const tables = (await c.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).rows;
    const out: Buffer[] = [];
    for (const { t } of tables) {
      const rows = (await c.query<{ r: string }>(`SELECT x::text AS r FROM "${t}" x`)).rows;
      out.push(Buffer.from(rows.map((r) => r.r).join('\n'), 'utf8'));
    }
    return out;
  } finally {
    await c.end();
  }
}

/** The store a gateway's config names, at rest. */
export function storeBytesAtRest(config: Pick<MedgateConfig, 'dataDir' | 'store'>): Promise<Buffer[]> {
  return bytesAtRest(config.store.driver === 'postgres'
    ? { postgresUrl: config.store.postgres!.url! }
    : { sqliteFile: path.resolve(config.dataDir, config.store.sqlite.file) });
}

/** Whether any of the bytes at rest contain `text` (UTF-8). */
export function foundAtRest(bytes: Buffer[], text: string): boolean {
  return bytes.some((b) => b.includes(text));
}

/**
 * A PostgreSQL database's own files on disk (base/<its oid>/: tables, indexes, TOAST), after a
 * CHECKPOINT has written every changed page: what a stolen disk shows, dead tuple versions and
 * dropped columns included, which no SELECT returns. Needs a superuser (the run's test cluster)
 * and the cluster's data directory on this machine.
 */
export async function postgresFilesAtRest(postgresUrl: string): Promise<Buffer[]> {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    await c.query('CHECKPOINT');
    const dataDir = (await c.query<{ d: string }>("SELECT current_setting('data_directory') AS d")).rows[0]!.d;
    const oid = (await c.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_database WHERE datname = current_database()')).rows[0]!.oid;
    const dir = path.join(dataDir, 'base', oid);
    return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));
  } finally {
    await c.end();
  }
}

/**
 * Puts the sealed bytes of blob `source` under blob id `target`, as someone who can write the store
 * (not the gateway) would: the blob's row or file, and the size its messages record. The gateway
 * should be restarted after, so that nothing it remembers hides the change.
 */
export async function replaceBlobAtRest(config: Pick<MedgateConfig, 'dataDir' | 'store'>, target: string, source: string): Promise<void> {
  if (config.store.driver === 'postgres') {
    const c = new pg.Client({ connectionString: config.store.postgres!.url! });
    await c.connect();
    try {
      await c.query('BEGIN');
      await c.query('DELETE FROM blob_chunks WHERE blob_id = $1', [target]);
      await c.query('INSERT INTO blob_chunks (blob_id, seq, data) SELECT $1, seq, data FROM blob_chunks WHERE blob_id = $2', [target, source]);
      await c.query('UPDATE blobs t SET size = s.size, chunks = s.chunks FROM blobs s WHERE t.id = $1 AND s.id = $2', [target, source]);
      await c.query('UPDATE messages SET sealed_size = (SELECT size FROM blobs WHERE id = $1) WHERE blob_id = $1', [target]);
      await c.query('COMMIT');
    } finally {
      await c.end();
    }
    return;
  }
  const file = path.resolve(config.dataDir, config.store.sqlite.file);
  const blobsDir = path.join(path.dirname(file), 'blobs');
  const fileOf = (id: string): string => path.join(blobsDir, id.slice(0, 2), id);
  const db = new Database(file);
  try {
    const row = (id: string): { external: number } => db.prepare('SELECT external FROM blobs WHERE id = ?').get(id) as { external: number };
    const bytes = row(source).external ? fs.readFileSync(fileOf(source)) : (db.prepare('SELECT data FROM blobs WHERE id = ?').get(source) as { data: Buffer }).data;
    if (row(target).external) fs.writeFileSync(fileOf(target), bytes);
    else db.prepare('UPDATE blobs SET data = ? WHERE id = ?').run(bytes, target);
    db.prepare('UPDATE blobs SET size = ? WHERE id = ?').run(bytes.length, target);
    db.prepare('UPDATE messages SET sealed_size = ? WHERE blob_id = ?').run(bytes.length, target);
  } finally {
    db.close();
  }
}
