import type { SettingsRepo } from '../types.js';
import type { PgDatabase } from './pg-database.js';
import type { ReadCache } from './read-cache.js';

/** Written by SQL of the mail repository (UIDVALIDITY counter), never through `set`: not cached. */
const UNCACHED = new Set(['mailbox.uidvalidity']);

export class PgSettingsRepo implements SettingsRepo {
  constructor(private readonly db: PgDatabase, private readonly cache?: ReadCache) {}

  async get(key: string): Promise<string | undefined> {
    const load = async (): Promise<string | undefined> => (await this.db.one<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))?.value;
    return this.cache && !UNCACHED.has(key) ? this.cache.get('settings', key, load) : load();
  }

  async set(key: string, value: string): Promise<void> {
    await this.db.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
    this.cache?.written('settings', key);
  }
}
