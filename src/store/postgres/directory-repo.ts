import type { DirectoryEntry, DirectoryRepo, EntryStatus, UpsertOutcome } from '../types.js';
import { ENTRY_COLUMNS as ALL, ENTRY_COMPARED, entryFrom, entryToRow, type EntryRow } from '../rows/directory-row.js';
import type { PgDatabase } from './pg-database.js';
import type { ReadCache } from './read-cache.js';

export class PgDirectoryRepo implements DirectoryRepo {
  constructor(private readonly db: PgDatabase, private readonly cache?: ReadCache) {}

  async upsert(entry: DirectoryEntry): Promise<UpsertOutcome> {
    const row = entryToRow(entry);
    const values = ALL.map((k) => row[k]);
    // Insert first: two nodes importing the same new entry at once get one 'inserted', never an error.
    const ins = await this.db.query(`INSERT INTO directory_entries (${ALL.join(', ')}) VALUES (${ALL.map((_, i) => `$${i + 1}`).join(', ')})
      ON CONFLICT (address) DO NOTHING`, values);
    if ((ins.rowCount ?? 0) > 0) { this.cache?.written('directory', row.address); return 'inserted'; }
    const existing = await this.db.one<EntryRow>('SELECT * FROM directory_entries WHERE address = $1', [row.address]);
    if (existing && ENTRY_COMPARED.every((k) => existing[k] === row[k])) return 'unchanged';
    const sets = ALL.filter((k) => k !== 'address').map((k) => `${k} = $${ALL.indexOf(k) + 1}`).join(', ');
    await this.db.query(`UPDATE directory_entries SET ${sets} WHERE address = $1`, values);
    this.cache?.written('directory', row.address);
    return 'updated';
  }

  async get(address: string): Promise<DirectoryEntry | undefined> {
    const a = address.toLowerCase();
    const load = async (): Promise<DirectoryEntry | undefined> => {
      const r = await this.db.one<EntryRow>('SELECT * FROM directory_entries WHERE address = $1', [a]);
      return r ? entryFrom(r) : undefined;
    };
    return this.cache ? this.cache.get('directory', a, load, (v) => (v ? { ...v } : v)) : load();
  }

  async findByIdentifier(identifier: string): Promise<DirectoryEntry[]> {
    return (await this.db.rows<EntryRow>('SELECT * FROM directory_entries WHERE id_value = $1 OR national_id = $1 ORDER BY address COLLATE "C"', [identifier])).map(entryFrom);
  }

  async list(filter: { source?: string; domain?: string } = {}): Promise<DirectoryEntry[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.source) { params.push(filter.source); where.push(`source = $${params.length}`); }
    if (filter.domain) { params.push('%@' + filter.domain.toLowerCase()); where.push(`address LIKE $${params.length}`); }
    const sql = `SELECT * FROM directory_entries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY address COLLATE "C"`;
    return (await this.db.rows<EntryRow>(sql, params)).map(entryFrom);
  }

  async setStatus(address: string, status: EntryStatus): Promise<boolean> {
    const res = await this.db.query('UPDATE directory_entries SET status = $1, updated_at = $2 WHERE address = $3', [status, new Date().toISOString(), address.toLowerCase()]);
    this.cache?.written('directory', address.toLowerCase());
    return (res.rowCount ?? 0) > 0;
  }

  async replaceWhitelist(domains: string[]): Promise<{ added: number; removed: number; kept: number }> {
    const wanted = [...new Set(domains.map((d) => d.toLowerCase()))];
    const result = await this.db.tx(async (c) => {
      // One writer at a time: two nodes replacing the list at once must not interleave.
      await c.query('LOCK TABLE whitelist_domains IN SHARE ROW EXCLUSIVE MODE');
      const removed = (await c.query('DELETE FROM whitelist_domains WHERE NOT (domain = ANY($1::text[]))', [wanted])).rowCount ?? 0;
      const added = (await c.query(`INSERT INTO whitelist_domains (domain, added_at) SELECT d, $2 FROM unnest($1::text[]) d
        ON CONFLICT (domain) DO NOTHING`, [wanted, new Date().toISOString()])).rowCount ?? 0;
      return { added, removed, kept: wanted.length - added };
    });
    this.cache?.written('whitelist');
    return result;
  }

  async isWhitelisted(domain: string): Promise<boolean> {
    const d = domain.toLowerCase();
    const load = async (): Promise<boolean> => (await this.db.one('SELECT 1 FROM whitelist_domains WHERE domain = $1', [d])) !== undefined;
    return this.cache ? this.cache.get('whitelist', d, load) : load();
  }

  async listWhitelist(): Promise<string[]> {
    return (await this.db.rows<{ domain: string }>('SELECT domain FROM whitelist_domains ORDER BY domain COLLATE "C"')).map((r) => r.domain);
  }
}
