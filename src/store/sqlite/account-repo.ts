import type Database from 'better-sqlite3';
import type { Account, AccountRepo } from '../types.js';

interface AccountRow {
  address: string;
  kind: string;
  disabled: number;
  wrapped_pgp_key: string;
  recovery_wrapped_pgp_key: string;
  pgp_public_key: string;
  pgp_fingerprint: string;
  certificate_pem: string;
  wrapped_cert_key: string;
  password_verifier: string;
  custody_wrapped_pgp_key: string | null;
  wrapped_meta_key: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMN: Record<keyof Account, keyof AccountRow> = {
  address: 'address',
  kind: 'kind',
  disabled: 'disabled',
  wrappedPgpKey: 'wrapped_pgp_key',
  recoveryWrappedPgpKey: 'recovery_wrapped_pgp_key',
  pgpPublicKey: 'pgp_public_key',
  pgpFingerprint: 'pgp_fingerprint',
  certificatePem: 'certificate_pem',
  wrappedCertKey: 'wrapped_cert_key',
  passwordVerifier: 'password_verifier',
  custodyWrappedPgpKey: 'custody_wrapped_pgp_key',
  wrappedMetaKey: 'wrapped_meta_key',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

function fromRow(r: AccountRow): Account {
  return {
    address: r.address,
    kind: r.kind as Account['kind'],
    disabled: r.disabled !== 0,
    wrappedPgpKey: r.wrapped_pgp_key,
    recoveryWrappedPgpKey: r.recovery_wrapped_pgp_key,
    pgpPublicKey: r.pgp_public_key,
    pgpFingerprint: r.pgp_fingerprint,
    certificatePem: r.certificate_pem,
    wrappedCertKey: r.wrapped_cert_key,
    passwordVerifier: r.password_verifier,
    custodyWrappedPgpKey: r.custody_wrapped_pgp_key,
    wrappedMetaKey: r.wrapped_meta_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toColumnValue(key: keyof Account, value: unknown): unknown {
  return key === 'disabled' ? (value ? 1 : 0) : value;
}

export class SqliteAccountRepo implements AccountRepo {
  constructor(private readonly db: Database.Database) {}

  async create(account: Account): Promise<void> {
    const keys = Object.keys(COLUMN) as (keyof Account)[];
    const cols = keys.map((k) => COLUMN[k]);
    const values = keys.map((k) => toColumnValue(k, k === 'address' ? account.address.toLowerCase() : account[k]));
    this.db.prepare(`INSERT INTO accounts (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...values);
  }

  async get(address: string): Promise<Account | undefined> {
    const r = this.db.prepare('SELECT * FROM accounts WHERE address = ?').get(address.toLowerCase()) as AccountRow | undefined;
    return r ? fromRow(r) : undefined;
  }

  async list(): Promise<Account[]> {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY address').all() as AccountRow[]).map(fromRow);
  }

  async update(address: string, changes: Partial<Omit<Account, 'address' | 'createdAt'>>): Promise<boolean> {
    const keys = Object.keys(changes) as (keyof typeof changes)[];
    if (keys.length === 0) return false;
    const sets = keys.map((k) => `${COLUMN[k]} = ?`).join(', ');
    const values = keys.map((k) => toColumnValue(k, changes[k]));
    const res = this.db.prepare(`UPDATE accounts SET ${sets} WHERE address = ?`).run(...values, address.toLowerCase());
    return res.changes > 0;
  }
}
