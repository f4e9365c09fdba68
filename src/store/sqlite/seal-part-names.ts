/**
 * SQLite migration 13 (src/store/sealed-part-names.ts): `filing_documents` is rebuilt with
 * `part_hash`/`part_enc` in place of the clear `part` (SQLite cannot drop a column that a UNIQUE
 * constraint names) and `author_enc` in place of `author`, every row copied with its part name
 * sealed and its author encrypted, `seq` and its AUTOINCREMENT counter kept (record servers poll
 * `items?since=seq`). It runs inside the migration's transaction with `secure_delete` on
 * (SqliteStore.migrate): the old table's pages and its (message_id, part) index are zeroed as they
 * are freed, not left readable in the file's free pages.
 */
import type Database from 'better-sqlite3';
import { keysToSeal } from '../sealed-part-names.js';
import type { MigrateOptions } from '../types.js';

/** Every column copied as it is (all but the part and the author). */
const KEPT = ['seq', 'id', 'patient_id', 'message_id', 'type', 'tab', 'doc_date', 'sender_address', 'sender_role', 'title_enc', 'blob_id',
  'content_digest', 'verified', 'signer_fingerprint', 'superseded_by', 'filed_at', 'written_as'] as const;

const FILING_DOCUMENTS_V13 = `
  CREATE TABLE filing_documents_v13 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    patient_id TEXT,
    message_id TEXT NOT NULL,
    part_hash TEXT NOT NULL,
    part_enc TEXT NOT NULL,
    type TEXT NOT NULL,
    tab TEXT NOT NULL,
    doc_date TEXT NOT NULL,
    sender_address TEXT NOT NULL,
    sender_role TEXT,
    title_enc TEXT,
    blob_id TEXT NOT NULL,
    content_digest TEXT,
    verified INTEGER NOT NULL,
    signer_fingerprint TEXT,
    superseded_by TEXT,
    filed_at TEXT NOT NULL,
    author_enc TEXT,
    written_as TEXT,
    UNIQUE (message_id, part_hash)
  )`;

type OldRow = Record<(typeof KEPT)[number], unknown> & { part: string; message_id: string; author: string | null };

export function sealPartNamesSqlite(db: Database.Database, options: MigrateOptions): void {
  const count = (db.prepare('SELECT COUNT(*) AS n FROM filing_documents').get() as { n: number }).n;
  const keys = keysToSeal(options, count);
  const counter = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'filing_documents'").get() as { seq: number } | undefined)?.seq;
  db.exec(FILING_DOCUMENTS_V13);
  const insert = db.prepare(`INSERT INTO filing_documents_v13 (${KEPT.join(', ')}, part_hash, part_enc, author_enc) VALUES (${KEPT.map(() => '?').join(', ')}, ?, ?, ?)`);
  // In batches (one connection cannot insert while a SELECT iterates), never all rows in memory.
  const batch = db.prepare('SELECT * FROM filing_documents WHERE seq > ? ORDER BY seq LIMIT 500');
  for (let after = -1, rows: OldRow[]; keys && (rows = batch.all(after) as OldRow[]).length; after = rows.at(-1)!.seq as number) {
    for (const row of rows) {
      const sealed = keys.sealPartName(row.message_id, row.part);
      insert.run(...KEPT.map((c) => row[c]), sealed.partHash, sealed.partEnc, row.author === null ? null : keys.encrypt(row.author));
    }
  }
  db.exec(`DROP TABLE filing_documents;
    ALTER TABLE filing_documents_v13 RENAME TO filing_documents;
    CREATE INDEX filing_documents_patient ON filing_documents (patient_id);`);
  // The AUTOINCREMENT counter goes on from where it was, even past rows no longer there.
  if (counter !== undefined) {
    const now = db.prepare("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'filing_documents'").run(counter);
    if (!now.changes) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('filing_documents', ?)").run(counter);
  }
}
