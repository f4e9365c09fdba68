/**
 * Schema migrations for the SQLite store. The SQL is kept portable (TEXT/INTEGER columns, no
 * SQLite-only functions in queries) so the PostgreSQL store can reuse the same table shapes;
 * only the append-only triggers are SQLite-specific and marked as such.
 */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'settings, directory, whitelist, accounts, audit log',
    sql: `
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE directory_entries (
        address TEXT PRIMARY KEY,
        mailbox_type TEXT NOT NULL,
        id_type TEXT,
        id_value TEXT,
        national_id TEXT,
        civility TEXT,
        family_name TEXT,
        given_name TEXT,
        profession_code TEXT,
        profession_label TEXT,
        specialty_code TEXT,
        specialty_label TEXT,
        organisation TEXT,
        status TEXT NOT NULL,
        certificate_pem TEXT,
        pgp_public_key TEXT,
        source TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX directory_entries_id_value ON directory_entries (id_value);
      CREATE INDEX directory_entries_national_id ON directory_entries (national_id);
      CREATE TABLE whitelist_domains (
        domain TEXT PRIMARY KEY,
        added_at TEXT NOT NULL
      );
      CREATE TABLE accounts (
        address TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        disabled INTEGER NOT NULL,
        wrapped_pgp_key TEXT NOT NULL,
        recovery_wrapped_pgp_key TEXT NOT NULL,
        pgp_public_key TEXT NOT NULL,
        pgp_fingerprint TEXT NOT NULL,
        certificate_pem TEXT NOT NULL,
        wrapped_cert_key TEXT NOT NULL,
        password_verifier TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        message_id TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      -- SQLite-specific: the audit log is append-only at the database level too.
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    `,
  },
];
