import type { Account, AccountRepo } from '../types.js';
import type { PgDatabase } from './pg-database.js';
import type { ReadCache } from './read-cache.js';

interface AccountRow {
  address: string; kind: string; disabled: boolean; wrapped_pgp_key: string; recovery_wrapped_pgp_key: string;
  pgp_public_key: string; pgp_fingerprint: string; certificate_pem: string; wrapped_cert_key: string;
  password_verifier: string; custody_wrapped_pgp_key: string | null; wrapped_meta_key: string | null;
  created_at: string; updated_at: string;
}

const COLUMN: Record<keyof Account, keyof AccountRow> = {
  address: 'address', kind: 'kind', disabled: 'disabled', wrappedPgpKey: 'wrapped_pgp_key',
  recoveryWrappedPgpKey: 'recovery_wrapped_pgp_key', pgpPublicKey: 'pgp_public_key', pgpFingerprint: 'pgp_fingerprint',
  certificatePem: 'certificate_pem', wrappedCertKey: 'wrapped_cert_key', passwordVerifier: 'password_verifier',
  custodyWrappedPgpKey: 'custody_wrapped_pgp_key', wrappedMetaKey: 'wrapped_meta_key', createdAt: 'created_at', updatedAt: 'updated_at',
};

const fromRow = (r: AccountRow): Account => ({
  address: r.address, kind: r.kind as Account['kind'], disabled: r.disabled, wrappedPgpKey: r.wrapped_pgp_key,
  recoveryWrappedPgpKey: r.recovery_wrapped_pgp_key, pgpPublicKey: r.pgp_public_key, pgpFingerprint: r.pgp_fingerprint,
  certificatePem: r.certificate_pem, wrappedCertKey: r.wrapped_cert_key, passwordVerifier: r.password_verifier,
  custodyWrappedPgpKey: r.custody_wrapped_pgp_key, wrappedMetaKey: r.wrapped_meta_key, createdAt: r.created_at, updatedAt: r.updated_at,
});

export class PgAccountRepo implements AccountRepo {
  constructor(private readonly db: PgDatabase, private readonly cache?: ReadCache) {}

  async create(account: Account): Promise<void> {
    const keys = Object.keys(COLUMN) as (keyof Account)[];
    const values = keys.map((k) => (k === 'address' ? account.address.toLowerCase() : account[k]));
    await this.db.query(`INSERT INTO accounts (${keys.map((k) => COLUMN[k]).join(', ')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    this.cache?.written('accounts', account.address.toLowerCase());
  }

  async get(address: string): Promise<Account | undefined> {
    const a = address.toLowerCase();
    const load = async (): Promise<Account | undefined> => {
      const r = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE address = $1', [a]);
      return r ? fromRow(r) : undefined;
    };
    return this.cache ? this.cache.get('accounts', a, load, (v) => (v ? { ...v } : v)) : load();
  }

  async list(): Promise<Account[]> {
    return (await this.db.rows<AccountRow>('SELECT * FROM accounts ORDER BY address COLLATE "C"')).map(fromRow);
  }

  async update(address: string, changes: Partial<Omit<Account, 'address' | 'createdAt'>>): Promise<boolean> {
    const keys = Object.keys(changes) as (keyof typeof changes)[];
    if (keys.length === 0) return false;
    const sets = keys.map((k, i) => `${COLUMN[k]} = $${i + 1}`).join(', ');
    const res = await this.db.query(`UPDATE accounts SET ${sets} WHERE address = $${keys.length + 1}`, [...keys.map((k) => changes[k]), address.toLowerCase()]);
    this.cache?.written('accounts', address.toLowerCase());
    return (res.rowCount ?? 0) > 0;
  }
}
