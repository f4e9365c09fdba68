import type { Account, AccountRepo } from '../types.js';
import { ACCOUNT_COLUMN as COLUMN, accountFrom, type AccountRow } from '../rows/account-row.js';
import type { PgDatabase } from './pg-database.js';
import type { ReadCache } from './read-cache.js';

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
      return r ? accountFrom(r) : undefined;
    };
    return this.cache ? this.cache.get('accounts', a, load, (v) => (v ? { ...v } : v)) : load();
  }

  async list(): Promise<Account[]> {
    return (await this.db.rows<AccountRow>('SELECT * FROM accounts ORDER BY address COLLATE "C"')).map(accountFrom);
  }

  async initWrappedMetaKey(address: string, wrapped: string): Promise<string | undefined> {
    // One statement: a concurrent one waits for this row's lock, then sees the key committed first.
    const r = await this.db.one<{ wrapped_meta_key: string }>(
      'UPDATE accounts SET wrapped_meta_key = COALESCE(wrapped_meta_key, $1) WHERE address = $2 RETURNING wrapped_meta_key', [wrapped, address.toLowerCase()]);
    this.cache?.written('accounts', address.toLowerCase());
    return r?.wrapped_meta_key;
  }

  async replaceWrappedMetaKey(address: string, expected: string, wrapped: string): Promise<boolean> {
    const r = await this.db.query('UPDATE accounts SET wrapped_meta_key = $1 WHERE address = $2 AND wrapped_meta_key = $3', [wrapped, address.toLowerCase(), expected]);
    this.cache?.written('accounts', address.toLowerCase());
    return (r.rowCount ?? 0) > 0;
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
