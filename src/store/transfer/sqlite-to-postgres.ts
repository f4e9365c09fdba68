/**
 * `medgate store migrate --to postgres://…`: copies a SQLite installation into an empty PostgreSQL
 * database, row for row (same tables, same columns: UIDs, UIDVALIDITY, MODSEQ, the audit chain
 * and its hashes are kept exactly), the sealed blobs streamed into chunks whatever their size. It
 * all happens in one PostgreSQL transaction, so a failure leaves the target empty. Then it checks
 * the target: row counts, every blob's sha256 against its id, and the audit chain.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { MedgateError } from '../../errors.js';
import { BlobFiles } from '../files/blob-files.js';
import { PgDatabase } from '../postgres/pg-database.js';
import { migratePostgres } from '../postgres/pg-migrate.js';
import { CHUNK_BYTES as BLOB_CHUNK_BYTES } from '../postgres/blob-chunks.js';
import { ProgressBar } from './progress-bar.js';
import { explainConnectError, parsePgUrl } from './target-url.js';

/** Copied in this order (foreign keys). `blobs` is copied apart, into blobs + blob_chunks. */
const TABLES = [
  'settings', 'directory_entries', 'whitelist_domains', 'accounts', 'audit_log', 'mailboxes', 'orphan_subscriptions',
  'blobs', 'messages', 'message_meta', 'queue_items', 'queue_recipients',
  'filing_patients', 'filing_prefixes', 'filing_documents', 'filing_reconcile', 'filing_requests', 'filing_receipts',
] as const;
/** Identity columns whose sequence must continue after the copied values. */
const IDENTITIES: Array<[string, string]> = [['mailboxes', 'id'], ['filing_documents', 'seq']];
const ROWS_PER_INSERT = 200;

export interface TransferReport {
  tables: Array<{ table: string; rows: number }>;
  blobs: number;
  blobBytes: number;
  auditRecords: number;
  auditHead: string;
}

export interface TransferOptions {
  sqliteFile: string;
  targetUrl: string;
  /** Progress on stderr (default true). */
  progress?: boolean;
  /** Verifies the audit chain of the target; returns its record count and head hash. */
  verifyAudit: (url: string) => Promise<{ ok: true; records: number; headHash: string } | { ok: false; reason: string }>;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

export async function transferSqliteToPostgres(o: TransferOptions): Promise<TransferReport> {
  const target = parsePgUrl(o.targetUrl);
  if (!fs.existsSync(o.sqliteFile)) {
    throw new MedgateError('STORE_SOURCE_MISSING', `no SQLite database at ${o.sqliteFile}: check dataDir and store.sqlite.file in the config`);
  }
  const source = new Database(o.sqliteFile, { readonly: true, fileMustExist: true });
  const files = new BlobFiles(path.join(path.dirname(o.sqliteFile), 'blobs'));
  const db = new PgDatabase({ url: target.url, poolSize: 2 });
  try {
    // Connect and bring the schema up first: every connection problem is one clear line.
    try {
      await migratePostgres(db);
    } catch (err) {
      if (err instanceof MedgateError && err.code === 'STORE_SCHEMA_TOO_NEW') throw err;
      throw explainConnectError((err as { cause?: unknown }).cause ?? err, target);
    }
    const held = await targetRows(db);
    if (held.length) {
      throw new MedgateError('STORE_TARGET_NOT_EMPTY',
        `the target database "${target.database}" already holds medgate data (${held.map(([t, n]) => `${n} ${t}`).join(', ')}): give an empty database`);
    }
    // One read transaction on the source: a consistent snapshot even if something else reads it.
    source.exec('BEGIN');
    const sourceTables = new Set((source.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
    const counts = TABLES.filter((t) => sourceTables.has(t)).map((t) => ({ table: t, rows: (source.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n }));
    const blobBytes = sourceTables.has('blobs') ? ((source.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM blobs').get() as { n: number }).n) : 0;
    const totalRows = counts.reduce((s, c) => s + c.rows, 0);
    // Progress in bytes-equivalents: a row counts 1 KB, so rows and blob bytes share one bar.
    const bar = o.progress === false ? undefined : new ProgressBar(totalRows * 1000 + blobBytes, mb);

    await db.tx(async (c) => {
      for (const { table } of counts) {
        if (table === 'blobs') await copyBlobs(source, files, c, (n, label) => bar?.advance(n, label));
        else await copyTable(source, c, table, (n) => bar?.advance(n * 1000, table));
      }
      for (const [table, column] of IDENTITIES) {
        await c.query(`SELECT setval(pg_get_serial_sequence('${table}', '${column}'), GREATEST((SELECT MAX(${column}) FROM ${table}), 1), (SELECT COUNT(*) > 0 FROM ${table}))`);
      }
    });
    bar?.finish();
    source.exec('COMMIT');

    // Verification on the target, as written.
    for (const { table, rows } of counts) {
      const got = (await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;
      if (got !== rows) throw new MedgateError('STORE_VERIFY_FAILED', `verification failed: ${table} has ${got} rows on the target, ${rows} on the source`);
    }
    const blobs = await verifyBlobs(db);
    const audit = await o.verifyAudit(target.url);
    if (!audit.ok) throw new MedgateError('STORE_VERIFY_FAILED', `verification failed: the audit chain on the target does not verify (${audit.reason})`);
    const sourceHead = (source.prepare('SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { hash: string } | undefined)?.hash;
    if (sourceHead && sourceHead !== audit.headHash) throw new MedgateError('STORE_VERIFY_FAILED', 'verification failed: the audit chain on the target ends at another record than the source');
    return { tables: counts, blobs: blobs.count, blobBytes: blobs.bytes, auditRecords: audit.records, auditHead: audit.headHash };
  } finally {
    source.close();
    await db.close();
  }
}

/** Tables of the target that already hold rows: any row at all means another installation's data. */
async function targetRows(db: PgDatabase): Promise<Array<[string, number]>> {
  const held: Array<[string, number]> = [];
  for (const t of TABLES) {
    const n = (await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n;
    if (n > 0) held.push([t, n]);
  }
  return held;
}

async function columnsOf(c: pg.PoolClient, table: string): Promise<Map<string, string>> {
  const r = await c.query<{ column_name: string; data_type: string }>(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", [table]);
  return new Map(r.rows.map((x) => [x.column_name, x.data_type]));
}

async function copyTable(source: Database.Database, c: pg.PoolClient, table: string, advance: (rows: number) => void): Promise<void> {
  const targetColumns = await columnsOf(c, table);
  const sourceColumns = (source.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((r) => r.name);
  const missing = sourceColumns.filter((n) => !targetColumns.has(n));
  if (missing.length) throw new MedgateError('STORE_SCHEMA_MISMATCH', `the target has no column ${table}.${missing[0]}: this medgate's schemas differ`);
  const booleans = new Set(sourceColumns.filter((n) => targetColumns.get(n) === 'boolean'));
  const list = sourceColumns.join(', ');
  let batch: unknown[][] = [];
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const params: unknown[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => { params.push(v); return `$${params.length}`; }).join(', ')})`);
    await c.query(`INSERT INTO ${table} (${list}) VALUES ${tuples.join(', ')}`, params);
    advance(batch.length);
    batch = [];
  };
  for (const row of source.prepare(`SELECT ${list} FROM ${table}`).raw().iterate() as Iterable<unknown[]>) {
    batch.push(row.map((v, i) => (booleans.has(sourceColumns[i]!) ? v !== 0 && v !== null : typeof v === 'bigint' ? Number(v) : v)));
    if (batch.length >= ROWS_PER_INSERT) await flush();
  }
  await flush();
}

/** Each blob's bytes, in chunks: from the row (small blobs) or streamed from its file (large ones). */
async function* chunksOf(source: Database.Database, files: BlobFiles, id: string, external: boolean): AsyncGenerator<Buffer> {
  if (!external) {
    const data = (source.prepare('SELECT data FROM blobs WHERE id = ?').get(id) as { data: Buffer }).data;
    for (let i = 0; i < data.length; i += BLOB_CHUNK_BYTES) yield data.subarray(i, i + BLOB_CHUNK_BYTES);
    return;
  }
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of fs.createReadStream(files.pathOf(id), { highWaterMark: BLOB_CHUNK_BYTES })) {
    pending = pending.length ? Buffer.concat([pending, piece as Buffer]) : (piece as Buffer);
    while (pending.length >= BLOB_CHUNK_BYTES) {
      yield pending.subarray(0, BLOB_CHUNK_BYTES);
      pending = pending.subarray(BLOB_CHUNK_BYTES);
    }
  }
  if (pending.length) yield pending;
}

async function copyBlobs(source: Database.Database, files: BlobFiles, c: pg.PoolClient, advance: (bytes: number, label: string) => void): Promise<void> {
  const hasExternal = (source.prepare('PRAGMA table_info(blobs)').all() as { name: string }[]).some((r) => r.name === 'external');
  const rows = source.prepare(`SELECT id, size, created_at, ${hasExternal ? 'external' : '0 AS external'} FROM blobs ORDER BY id`).all() as { id: string; size: number; created_at: string; external: number }[];
  for (const b of rows) {
    if (b.external && !fs.existsSync(files.pathOf(b.id))) {
      throw new MedgateError('STORE_SOURCE_BLOB_MISSING', `stored message file blobs/${b.id.slice(0, 2)}/${b.id} is missing from the source: restore it from the back-up first`);
    }
    let seq = 0;
    let size = 0;
    const hash = createHash('sha256');
    await c.query('INSERT INTO blobs (id, size, chunks, created_at) VALUES ($1, $2, 0, $3)', [b.id, b.size, b.created_at]);
    for await (const chunk of chunksOf(source, files, b.id, b.external === 1)) {
      hash.update(chunk);
      size += chunk.length;
      await c.query('INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)', [b.id, seq++, chunk]);
      advance(chunk.length, 'blobs');
    }
    if (size !== b.size || hash.digest('hex') !== b.id) {
      throw new MedgateError('STORE_SOURCE_BLOB_CORRUPT', `stored message ${b.id} on the source does not match its hash: the source is damaged, nothing was copied`);
    }
    await c.query('UPDATE blobs SET chunks = $2 WHERE id = $1', [b.id, seq]);
    advance(1000, 'blobs'); // the row itself, as rows of the other tables count
  }
}

/** Re-reads every blob from the target, chunk by chunk, and checks its sha256 against its id. */
async function verifyBlobs(db: PgDatabase): Promise<{ count: number; bytes: number }> {
  const blobs = await db.rows<{ id: string; size: number; chunks: number }>('SELECT id, size, chunks FROM blobs ORDER BY id');
  let bytes = 0;
  for (const b of blobs) {
    const hash = createHash('sha256');
    let size = 0;
    for (let seq = 0; seq < b.chunks; seq++) {
      const row = await db.one<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2', [b.id, seq]);
      if (!row) throw new MedgateError('STORE_VERIFY_FAILED', `verification failed: chunk ${seq} of stored message ${b.id} is missing on the target`);
      hash.update(row.data);
      size += row.data.length;
    }
    if (size !== b.size || hash.digest('hex') !== b.id) throw new MedgateError('STORE_VERIFY_FAILED', `verification failed: stored message ${b.id} differs on the target`);
    bytes += size;
  }
  return { count: blobs.length, bytes };
}
