/**
 * A filed document's part name is its attachment's file name, and French hospitals name their PDFs
 * after the patient (the ANS sample: 20261204_CRH_DUPONT_Jean_1.pdf). The filing store keeps it as a
 * keyed hash (lookup, idempotent refiling) and encrypted (to show it): never in clear. On both
 * stores: a document filed now leaves no byte of the name at rest, and rows an older medgate wrote
 * (clear `part` column) are converted by the migration, their clear name gone from the files too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ensureFilingDataKey, FilingService, type DocumentAuthor } from '../../src/filing/index.js';
import { filingMigrationKeys } from '../../src/filing/part-names.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PgDatabase } from '../../src/store/postgres/pg-database.js';
import { migratePostgres } from '../../src/store/postgres/pg-migrate.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import { bytesAtRest, foundAtRest, postgresFilesAtRest } from '../helpers/at-rest.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { describeOn, describeOnStores } from '../helpers/stores.js';
import { blobId, filingFixture, messageId, routing, VERIFIED, type FilingFixture } from './helpers.js';

const PDF = '20261204_CRH_DUPONT_Jean_1.pdf';
/** What must never be found at rest: the patient's name as the file name carries it. */
const NEEDLE = 'CRH_DUPONT_Jean';
/** A forwarded message's From, the author it claims: here the patient writing to the doctor. */
const FORWARDED_FROM = 'Jean DUPONT <jean.dupont@example.org>';
const FORWARDED: DocumentAuthor = { status: 'unverified', via: 'forwarded', name: FORWARDED_FROM };

describeOnStores('filing: a part name named after the patient, or a forwarded author, is never at rest in clear', (kind) => {
  let fx: FilingFixture;
  beforeEach(async () => { fx = await filingFixture(kind); });
  afterEach(async () => { await fx.close(); });

  it('files it sealed, shows it by name (patients show, API items), refiles idempotently', async () => {
    const mid = messageId();
    const r = routing({ type: 'hospital-report', documents: [{ part: 'body', type: 'letter' }, { part: PDF, type: 'hospital-report' }, { part: 'message.eml', type: 'letter' }] });
    const first = await fx.filing.ingest(r, VERIFIED, blobId(), mid, [], new Map([['message.eml', FORWARDED]]));
    expect(first.documentIds).toHaveLength(3);

    // What `medgate patients show`, the console and the API read: the real name.
    const view = await fx.filing.show(first.patientId!);
    expect(view.tabs.reports.map((d) => d.part)).toEqual([PDF]);
    expect(view.tabs.letters.map((d) => [d.part, d.author])).toEqual([['body', { status: 'sender' }], ['message.eml', FORWARDED]]);
    expect(view.tabs.letters[1]!.authorMark).toContain(FORWARDED_FROM);
    expect((await fx.filing.itemsSince(0)).map((d) => d.part).sort()).toEqual([PDF, 'body', 'message.eml'].sort());

    // The same message again: nothing filed twice.
    const again = await fx.filing.ingest(r, VERIFIED, blobId(), mid);
    expect(again).toMatchObject({ outcome: 'duplicate', documentIds: [] });

    // Cut between two documents of a message (an older crash): refiling files only the one missing.
    const cut = messageId();
    const item = fx.filing.itemOf(r, VERIFIED, blobId(), cut);
    const firstHalf = await fx.filing.file({ ...item, documents: item.documents.filter((d) => d.part === PDF) });
    expect(firstHalf.documentIds).toHaveLength(1);
    const rest = await fx.filing.file({ ...item, documents: item.documents.filter((d) => d.part !== 'message.eml') });
    expect(rest).toMatchObject({ outcome: 'matched', patientId: first.patientId });
    expect(rest.documentIds).toHaveLength(1);
    expect(fx.filing.partOf(await fx.filing.document(rest.documentIds[0]!))).toBe('body');
    expect((await fx.filing.show(first.patientId!)).tabs.reports.map((d) => d.part)).toEqual([PDF, PDF]);

    // The same name in two messages is not the same value in the store (hash keyed with the message).
    const [a] = (await fx.store.filing.documentsOfMessage(mid)).filter((d) => fx.filing.isPart(d, PDF));
    const [b] = (await fx.store.filing.documentsOfMessage(cut)).filter((d) => fx.filing.isPart(d, PDF));
    expect(a!.partHash).not.toBe(b!.partHash);

    // Not in any byte of the SQLite file and its WAL, nor in any PostgreSQL row.
    const atRest = await fx.rawContents();
    expect(atRest.length).toBeGreaterThan(0);
    expect(foundAtRest(atRest, NEEDLE)).toBe(false);
    expect(foundAtRest(atRest, 'DUPONT')).toBe(false);
    expect(foundAtRest(atRest, 'jean.dupont')).toBe(false);
  });
});

/** Rows as medgate before the part-name migration wrote them: two messages, an author in clear, a deleted last row. */
const OLD_ROWS: Array<[string, string, string]> = [['d1', '<m1@old>', 'body'], ['d2', '<m1@old>', PDF], ['d3', '<m2@old>', PDF], ['d4', '<m3@old>', 'gone_DUPONT_Jean.pdf']];
const OLD_COLUMNS = 'id, patient_id, message_id, part, type, tab, doc_date, sender_address, blob_id, verified, filed_at, author';
const oldValues = ([id, mid, part]: [string, string, string]): unknown[] => [id, null, mid, part, 'hospital-report', 'reports', '2026-12-04', 'claire.martin@cardio.test', 'b'.repeat(64), 1, '2026-12-04T10:00:00.000Z',
  id === 'd3' ? JSON.stringify(FORWARDED) : null];

interface OldStore {
  dir: string;
  /** PostgreSQL: the database's URL. */
  url?: string;
  /** The old schema with its rows, some only in the WAL (SQLite) or as dead tuples (PostgreSQL). */
  open(): Promise<Store>;
  bytes(): Promise<Buffer[]>;
  close(): Promise<void>;
}

async function oldSqlite(dir: string): Promise<OldStore> {
  const file = path.join(dir, 'medgate.db');
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.pragma('wal_autocheckpoint = 0');
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.filter((x) => x.version <= 12)) {
    old.exec(m.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.description, new Date().toISOString());
  }
  const insert = old.prepare(`INSERT INTO filing_documents (${OLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  insert.run(...oldValues(OLD_ROWS[0]!));
  insert.run(...oldValues(OLD_ROWS[1]!));
  old.pragma('wal_checkpoint(TRUNCATE)'); // these two in the database file itself
  insert.run(...oldValues(OLD_ROWS[2]!)); // these only in the WAL, as after a crash
  insert.run(...oldValues(OLD_ROWS[3]!));
  old.prepare("DELETE FROM filing_documents WHERE id = 'd4'").run(); // a freed cell, readable without secure_delete
  let store: Store | undefined;
  const files = (): Promise<Buffer[]> => bytesAtRest({ sqliteFile: file });
  return {
    dir,
    async open() {
      store = SqliteStore.open(file);
      return store;
    },
    bytes: files,
    async close() { old.close(); await store?.close(); },
  };
}

async function oldPostgres(dir: string): Promise<OldStore> {
  const database = await createTestDatabase();
  const db = new PgDatabase({ url: database.url, poolSize: 2 });
  await migratePostgres(db, PG_MIGRATIONS.filter((m) => m.version <= 3));
  for (const row of OLD_ROWS) {
    await db.query(`INSERT INTO filing_documents (${OLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, oldValues(row).map((v) => (v === 1 ? true : v)));
  }
  // As autovacuum's ANALYZE does: the planner statistics sample `part` (most common values in pg_statistic).
  await db.query('ANALYZE filing_documents');
  await db.query("DELETE FROM filing_documents WHERE id = 'd4'"); // a dead tuple, still in the table's file
  await db.close();
  let store: Store | undefined;
  return {
    dir,
    url: database.url,
    async open() {
      store = await PgStore.open({ url: database.url, nodeId: 'part-names-migration', poolSize: 2 });
      return store;
    },
    // Every row, and the database's files on disk (dead tuples and dropped columns included).
    bytes: async () => [...await bytesAtRest({ postgresUrl: database.url }), ...await postgresFilesAtRest(database.url)],
    async close() { await store?.close(); await database.drop(); },
  };
}

/** A fresh folder and an old-schema store for each test of the suite (closed and removed after). */
function oldStoreForEachTest(kind: 'sqlite' | 'postgres'): { readonly dir: string; readonly old: OldStore } {
  const current: { dir: string; old: OldStore } = { dir: '', old: undefined as unknown as OldStore };
  beforeEach(async () => {
    current.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-part-names-'));
    current.old = kind === 'sqlite' ? await oldSqlite(current.dir) : await oldPostgres(current.dir);
  });
  afterEach(async () => {
    await current.old.close();
    fs.rmSync(current.dir, { recursive: true, force: true });
  });
  return current;
}

describeOnStores('filing: the part-name migration (SQLite 13, PostgreSQL 4) converts the rows an older medgate kept in clear', (kind) => {
  const each = oldStoreForEachTest(kind);

  it('seals every clear part name in the migration, keeps seq, leaves the clear name nowhere in the files, and refiling stays idempotent', async () => {
    const { dir, old } = each;
    expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(true); // the test can fail: the old rows hold it
    expect(foundAtRest(await old.bytes(), 'jean.dupont')).toBe(true);
    const store = await old.open();

    // Without the filing data key, the migration refuses, says why, and changes nothing.
    await expect(store.migrate()).rejects.toMatchObject({ code: 'STORE_MIGRATION_NEEDS_KEY', message: expect.stringContaining('keys/filing-data.key') });
    expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(true);

    await ensureFilingDataKey(dir);
    const version = await store.migrate({ keys: () => filingMigrationKeys(dir) });
    expect(version).toBe(kind === 'sqlite' ? 13 : 5);
    // Idempotent: nothing left to do the second time.
    expect(await store.migrate({ keys: () => { throw new Error('not asked again'); } })).toBe(version);

    const bytes = await old.bytes();
    expect(foundAtRest(bytes, NEEDLE)).toBe(false);
    expect(foundAtRest(bytes, 'DUPONT_Jean')).toBe(false);
    expect(foundAtRest(bytes, 'jean.dupont')).toBe(false);

    const filing = await FilingService.open(store.filing, dir);
    const items = await filing.itemsSince(0);
    expect(items.map((d) => [d.id, d.seq, d.messageId, d.part, d.author])).toEqual([
      ['d1', 1, '<m1@old>', 'body', { status: 'sender' }], ['d2', 2, '<m1@old>', PDF, { status: 'sender' }], ['d3', 3, '<m2@old>', PDF, FORWARDED]]);

    // Refiling an old message finds its documents by the new hash: nothing twice. A new one goes on
    // after the last seq ever given (the deleted d4's), so record servers polling `since` miss nothing.
    const r = routing({ patient: null, documents: [{ part: 'body', type: 'letter' }, { part: PDF, type: 'hospital-report' }] });
    expect(await filing.ingest(r, VERIFIED, 'b'.repeat(64), '<m1@old>')).toMatchObject({ outcome: 'duplicate', documentIds: [] });
    const fresh = await filing.ingest(r, VERIFIED, blobId(), messageId());
    expect(fresh.documentIds).toHaveLength(2);
    expect(Math.min(...(await filing.itemsSince(3)).map((d) => d.seq))).toBeGreaterThan(4);
    expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(false);
  });
});

// SQLite only: PostgreSQL has no WAL file of ours to empty (its own WAL is documented as out of reach).
describeOn('sqlite', 'filing: the part-name migration on SQLite while another process reads an older snapshot', () => {
  const each = oldStoreForEachTest('sqlite');

  it('cannot empty the WAL while the reader holds it: the start fails saying so, and the next start empties it', async () => {
    const { dir, old } = each;
    const store = await old.open();
    await ensureFilingDataKey(dir);
    // Another process (a medgate command, a backup) in the middle of a read: its snapshot pins the WAL.
    const reader = new Database(path.join(dir, 'medgate.db'));
    reader.exec('BEGIN');
    reader.prepare('SELECT COUNT(*) FROM filing_documents').get();
    try {
      await expect(store.migrate({ keys: () => filingMigrationKeys(dir), walPurgeWaitMs: 300 }))
        .rejects.toMatchObject({ code: 'STORE_WAL_PURGE_PENDING', message: expect.stringContaining('stop the other medgate processes') });
      // The rows are converted, but the old frames are still there: what the error is about.
      expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(true);
    } finally {
      reader.exec('COMMIT');
      reader.close();
    }
    // The next start: the migration is applied (no key asked), and the WAL is emptied now.
    expect(await store.migrate({ keys: () => { throw new Error('not asked again'); } })).toBe(13);
    expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(false);
    expect(foundAtRest(await old.bytes(), 'jean.dupont')).toBe(false);
  });
});

// PostgreSQL only: pg_statistic is its catalog (SQLite's own case, its WAL, is above).
describeOn('postgres', 'filing: the part-name migration on PostgreSQL while another session holds the planner statistics', () => {
  const each = oldStoreForEachTest('postgres');

  it('cannot rewrite pg_statistic while a transaction holds it: the start fails saying so, and the next start rewrites it', async () => {
    const { dir, old } = each;
    const store = await old.open();
    await ensureFilingDataKey(dir);
    // Another node's session in the middle of a transaction that read the statistics.
    const other = new pg.Client({ connectionString: old.url });
    await other.connect();
    await other.query('BEGIN');
    await other.query('LOCK TABLE pg_statistic IN ACCESS SHARE MODE');
    try {
      await expect(store.migrate({ keys: () => filingMigrationKeys(dir) }))
        .rejects.toMatchObject({ code: 'STORE_STATISTICS_PURGE_PENDING', message: expect.stringContaining('start again') });
      expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(true); // the dead statistics row: what the error is about
    } finally {
      await other.query('COMMIT');
      await other.end();
    }
    // The next start: migration 4 is applied (no key asked), and the owed rewrite is done now.
    expect(await store.migrate({ keys: () => { throw new Error('not asked again'); } })).toBe(5);
    expect(foundAtRest(await old.bytes(), NEEDLE)).toBe(false);
  });
});
