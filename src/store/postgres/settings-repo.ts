import type { SettingsRepo } from '../types.js';
import type { PgDatabase } from './pg-database.js';

export class PgSettingsRepo implements SettingsRepo {
  constructor(private readonly db: PgDatabase) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.db.one<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))?.value;
  }

  async set(key: string, value: string): Promise<void> {
    await this.db.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }
}
