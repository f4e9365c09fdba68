/**
 * Schema migrations for the SQLite store. The SQL is kept portable (TEXT/INTEGER columns, no
 * SQLite-only functions in queries) so the PostgreSQL store can reuse the same table shapes;
 * only the append-only triggers are SQLite-specific and marked as such.
 */
import type Database from 'better-sqlite3';
import type { MigrateOptions } from '../types.js';
import { sealPartNamesSqlite } from './seal-part-names.js';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /** Run after `sql`, in its transaction: a conversion SQL alone cannot make (it needs a key). */
  convert?: (db: Database.Database, options: MigrateOptions) => void;
  /**
   * The migration removes values that must not stay readable: it runs with `secure_delete` on
   * (freed pages and cells zeroed), and the WAL is checkpointed and truncated after it.
   */
  purgesClearValues?: true;
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
  {
    version: 2,
    description: 'mailboxes, sealed blobs, messages, metadata cache, delivery queue',
    sql: `
      CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        special_use TEXT,
        uid_validity INTEGER NOT NULL,
        uid_next INTEGER NOT NULL,
        highest_modseq INTEGER NOT NULL,
        subscribed INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (owner, name)
      );
      CREATE TABLE blobs (
        id TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE messages (
        mailbox_id INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
        uid INTEGER NOT NULL,
        blob_id TEXT NOT NULL REFERENCES blobs (id),
        flags TEXT NOT NULL,
        internal_date TEXT NOT NULL,
        sealed_size INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        delivery_key TEXT,
        PRIMARY KEY (mailbox_id, uid),
        UNIQUE (mailbox_id, delivery_key)
      );
      CREATE INDEX messages_blob ON messages (blob_id);
      CREATE TABLE message_meta (
        owner TEXT NOT NULL,
        blob_id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (owner, blob_id)
      );
      CREATE TABLE queue_items (
        id TEXT PRIMARY KEY,
        blob_id TEXT NOT NULL REFERENCES blobs (id),
        envelope_from TEXT NOT NULL,
        message_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ret TEXT,
        envid TEXT
      );
      CREATE TABLE queue_recipients (
        queue_id TEXT NOT NULL REFERENCES queue_items (id) ON DELETE CASCADE,
        recipient TEXT NOT NULL,
        notify TEXT,
        orcpt TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        delay_notified INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (queue_id, recipient)
      );
      CREATE INDEX queue_recipients_due ON queue_recipients (status, next_attempt_at);
    `,
  },
  {
    version: 3,
    description: 'custody-wrapped keys of application accounts (client-certificate login)',
    sql: `ALTER TABLE accounts ADD COLUMN custody_wrapped_pgp_key TEXT;`,
  },
  {
    version: 4,
    description: 'per-user metadata cache key',
    sql: `ALTER TABLE accounts ADD COLUMN wrapped_meta_key TEXT;`,
  },
  {
    version: 5,
    description: 'patient filing: patients (identity encrypted, keyed hashes), name prefixes, documents, reconciliation, record requests',
    sql: `
      CREATE TABLE filing_patients (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        merged_into TEXT,
        identity_enc TEXT NOT NULL,
        ins_hash TEXT,
        traits_hash TEXT NOT NULL,
        family_birth_hash TEXT NOT NULL,
        given_birth_hash TEXT NOT NULL,
        access_code_enc TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX filing_patients_ins ON filing_patients (ins_hash);
      CREATE INDEX filing_patients_traits ON filing_patients (traits_hash);
      CREATE INDEX filing_patients_family_birth ON filing_patients (family_birth_hash);
      CREATE INDEX filing_patients_given_birth ON filing_patients (given_birth_hash);
      CREATE TABLE filing_prefixes (
        patient_id TEXT NOT NULL,
        prefix_hash TEXT NOT NULL,
        PRIMARY KEY (prefix_hash, patient_id)
      );
      CREATE TABLE filing_documents (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        patient_id TEXT,
        message_id TEXT NOT NULL,
        part TEXT NOT NULL,
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
        UNIQUE (message_id, part)
      );
      CREATE INDEX filing_documents_patient ON filing_documents (patient_id);
      CREATE TABLE filing_reconcile (
        id TEXT PRIMARY KEY,
        patient_id TEXT,
        candidate_id TEXT,
        reason TEXT NOT NULL,
        message_id TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        resolved_at TEXT
      );
      CREATE TABLE filing_requests (
        id TEXT PRIMARY KEY,
        patient_id TEXT NOT NULL,
        doctor TEXT NOT NULL,
        basis TEXT NOT NULL,
        document_id TEXT,
        reason_enc TEXT,
        outcome TEXT NOT NULL,
        at TEXT NOT NULL
      );
    `,
  },
  {
    version: 6,
    description: 'large sealed messages stored as files beside the database (blobs.external)',
    sql: `ALTER TABLE blobs ADD COLUMN external INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 7,
    description: 'IMAP \\Recent: the highest UID a selecting session has seen, per mailbox (existing mail is not recent)',
    sql: `ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
      UPDATE mailboxes SET recent_uid = uid_next - 1;`,
  },
  {
    version: 8,
    description: 'IMAP subscriptions outlive DELETE (RFC 3501 §6.3.6): subscribed names with no mailbox',
    sql: `CREATE TABLE orphan_subscriptions (owner TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (owner, name));`,
  },
  {
    version: 9,
    description: 'read receipts (MDN, RFC 8098) a record server owes its senders: one per item and record server, sent once',
    sql: `CREATE TABLE filing_receipts (
        message_id TEXT NOT NULL,
        record_server TEXT NOT NULL,
        mdn_to TEXT NOT NULL,
        original_message_id TEXT NOT NULL,
        disposition TEXT NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        PRIMARY KEY (message_id, record_server)
      );
      CREATE INDEX filing_receipts_pending ON filing_receipts (sent_at);`,
  },
  {
    version: 10,
    description: 'queue leases: the node working an item, and until when (one node per item at a time)',
    sql: `ALTER TABLE queue_items ADD COLUMN lease_owner TEXT;
      ALTER TABLE queue_items ADD COLUMN lease_until TEXT;`,
  },
  {
    version: 11,
    description: "filed documents: their author when it is not the sender (JSON: verified lab/XDM author, or 'transmitted, author not verified')",
    sql: `ALTER TABLE filing_documents ADD COLUMN author TEXT;`,
  },
  {
    version: 12,
    description: "the treating doctor the operator set (patients set-treating), and a summary written by a replacement ('replacement')",
    sql: `ALTER TABLE filing_patients ADD COLUMN treating_doctor TEXT;
      ALTER TABLE filing_documents ADD COLUMN written_as TEXT;`,
  },
  {
    version: 13,
    description: 'filed documents: the part name (an attachment file name, often the patient\'s) kept as a keyed hash and encrypted, never in clear; the author encrypted',
    sql: '',
    convert: sealPartNamesSqlite,
    purgesClearValues: true,
  },
];
