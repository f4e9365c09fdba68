import type Database from 'better-sqlite3';
import type { Account, AccountRepo } from '../types.js';
import { ACCOUNT_COLUMN as COLUMN, accountFrom, type AccountRow } from '../rows/account-row.js';

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
    return r ? accountFrom(r) : undefined;
  }

  async list(): Promise<Account[]> {
    return (this.db.prepare('SELECT * FROM accounts ORDER BY address').all() as AccountRow[]).map(accountFrom);
  }

  async initWrappedMetaKey(address: string, wrapped: string): Promise<string | undefined> {
    const r = this.db.prepare('UPDATE accounts SET wrapped_meta_key = COALESCE(wrapped_meta_key, ?) WHERE address = ? RETURNING wrapped_meta_key')
      .get(wrapped, address.toLowerCase()) as { wrapped_meta_key: string } | undefined;
    return r?.wrapped_meta_key;
  }

  async replaceWrappedMetaKey(address: string, expected: string, wrapped: string): Promise<boolean> {
    return this.db.prepare('UPDATE accounts SET wrapped_meta_key = ? WHERE address = ? AND wrapped_meta_key = ?')
      .run(wrapped, address.toLowerCase(), expected).changes > 0;
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
