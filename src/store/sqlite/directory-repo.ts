import type Database from 'better-sqlite3';
import type { DirectoryEntry, DirectoryRepo, EntryStatus, UpsertOutcome } from '../types.js';
import { ENTRY_COMPARED, entryFrom, entryToRow, type EntryRow } from '../rows/directory-row.js';
import { TEXT_PARAM } from './stable-params.js';

export class SqliteDirectoryRepo implements DirectoryRepo {
  constructor(private readonly db: Database.Database) {}

  async upsert(entry: DirectoryEntry): Promise<UpsertOutcome> {
    const row = entryToRow(entry);
    const existing = this.db.prepare('SELECT * FROM directory_entries WHERE address = ?').get(row.address) as EntryRow | undefined;
    if (!existing) {
      this.db.prepare(`INSERT INTO directory_entries (${Object.keys(row).join(', ')})
        VALUES (${Object.keys(row).map((k) => '@' + k).join(', ')})`).run(row);
      return 'inserted';
    }
    if (ENTRY_COMPARED.every((k) => existing[k] === row[k])) return 'unchanged';
    const sets = Object.keys(row).filter((k) => k !== 'address').map((k) => `${k} = @${k}`).join(', ');
    this.db.prepare(`UPDATE directory_entries SET ${sets} WHERE address = @address`).run(row);
    return 'updated';
  }

  async get(address: string): Promise<DirectoryEntry | undefined> {
    const r = this.db.prepare('SELECT * FROM directory_entries WHERE address = ?').get(address.toLowerCase()) as EntryRow | undefined;
    return r ? entryFrom(r) : undefined;
  }

  async findByIdentifier(identifier: string): Promise<DirectoryEntry[]> {
    const rows = this.db
      // Compiled once (stable-params.ts): the same two index searches, not a new plan per identifier.
      .prepare(`SELECT * FROM directory_entries WHERE id_value = ${TEXT_PARAM} OR national_id = ${TEXT_PARAM} ORDER BY address`)
      .all(identifier, identifier) as EntryRow[];
    return rows.map(entryFrom);
  }

  async list(filter: { source?: string; domain?: string } = {}): Promise<DirectoryEntry[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.source) { where.push('source = ?'); params.push(filter.source); }
    if (filter.domain) { where.push('address LIKE ?'); params.push('%@' + filter.domain.toLowerCase()); }
    const sql = `SELECT * FROM directory_entries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY address`;
    return (this.db.prepare(sql).all(...params) as EntryRow[]).map(entryFrom);
  }

  async setStatus(address: string, status: EntryStatus): Promise<boolean> {
    const res = this.db.prepare('UPDATE directory_entries SET status = ?, updated_at = ? WHERE address = ?')
      .run(status, new Date().toISOString(), address.toLowerCase());
    return res.changes > 0;
  }

  async replaceWhitelist(domains: string[]): Promise<{ added: number; removed: number; kept: number }> {
    const wanted = new Set(domains.map((d) => d.toLowerCase()));
    const tx = this.db.transaction(() => {
      const current = new Set((this.db.prepare('SELECT domain FROM whitelist_domains').all() as { domain: string }[]).map((r) => r.domain));
      let added = 0, removed = 0, kept = 0;
      const now = new Date().toISOString();
      for (const d of current) {
        if (!wanted.has(d)) { this.db.prepare('DELETE FROM whitelist_domains WHERE domain = ?').run(d); removed++; } else kept++;
      }
      for (const d of wanted) {
        if (!current.has(d)) { this.db.prepare('INSERT INTO whitelist_domains (domain, added_at) VALUES (?, ?)').run(d, now); added++; }
      }
      return { added, removed, kept };
    });
    // IMMEDIATE: the write lock before the read. A deferred transaction that reads, then writes after
    // another process wrote, fails at once with SQLITE_BUSY (no busy wait can help a stale snapshot).
    return tx.immediate();
  }

  async isWhitelisted(domain: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM whitelist_domains WHERE domain = ?').get(domain.toLowerCase()) !== undefined;
  }

  async listWhitelist(): Promise<string[]> {
    return (this.db.prepare('SELECT domain FROM whitelist_domains ORDER BY domain').all() as { domain: string }[]).map((r) => r.domain);
  }
}
