import type Database from 'better-sqlite3';
import type { DirectoryEntry, DirectoryRepo, EntryStatus, UpsertOutcome } from '../types.js';

interface EntryRow {
  address: string;
  mailbox_type: string;
  id_type: string | null;
  id_value: string | null;
  national_id: string | null;
  civility: string | null;
  family_name: string | null;
  given_name: string | null;
  profession_code: string | null;
  profession_label: string | null;
  specialty_code: string | null;
  specialty_label: string | null;
  organisation: string | null;
  status: string;
  certificate_pem: string | null;
  pgp_public_key: string | null;
  source: string;
  updated_at: string;
}

function toRow(e: DirectoryEntry): EntryRow {
  return {
    address: e.address.toLowerCase(),
    mailbox_type: e.mailboxType,
    id_type: e.idType,
    id_value: e.idValue,
    national_id: e.nationalId,
    civility: e.civility,
    family_name: e.familyName,
    given_name: e.givenName,
    profession_code: e.professionCode,
    profession_label: e.professionLabel,
    specialty_code: e.specialtyCode,
    specialty_label: e.specialtyLabel,
    organisation: e.organisation,
    status: e.status,
    certificate_pem: e.certificatePem,
    pgp_public_key: e.pgpPublicKey,
    source: e.source,
    updated_at: e.updatedAt,
  };
}

function fromRow(r: EntryRow): DirectoryEntry {
  return {
    address: r.address,
    mailboxType: r.mailbox_type as DirectoryEntry['mailboxType'],
    idType: r.id_type as DirectoryEntry['idType'],
    idValue: r.id_value,
    nationalId: r.national_id,
    civility: r.civility,
    familyName: r.family_name,
    givenName: r.given_name,
    professionCode: r.profession_code,
    professionLabel: r.profession_label,
    specialtyCode: r.specialty_code,
    specialtyLabel: r.specialty_label,
    organisation: r.organisation,
    status: r.status as EntryStatus,
    certificatePem: r.certificate_pem,
    pgpPublicKey: r.pgp_public_key,
    source: r.source,
    updatedAt: r.updated_at,
  };
}

/** Fields compared to decide whether an upsert changes anything (updatedAt excluded). */
const COMPARED: (keyof EntryRow)[] = [
  'mailbox_type', 'id_type', 'id_value', 'national_id', 'civility', 'family_name', 'given_name',
  'profession_code', 'profession_label', 'specialty_code', 'specialty_label', 'organisation',
  'status', 'certificate_pem', 'pgp_public_key', 'source',
];

export class SqliteDirectoryRepo implements DirectoryRepo {
  constructor(private readonly db: Database.Database) {}

  async upsert(entry: DirectoryEntry): Promise<UpsertOutcome> {
    const row = toRow(entry);
    const existing = this.db.prepare('SELECT * FROM directory_entries WHERE address = ?').get(row.address) as EntryRow | undefined;
    if (!existing) {
      this.db.prepare(`INSERT INTO directory_entries (${Object.keys(row).join(', ')})
        VALUES (${Object.keys(row).map((k) => '@' + k).join(', ')})`).run(row);
      return 'inserted';
    }
    if (COMPARED.every((k) => existing[k] === row[k])) return 'unchanged';
    const sets = Object.keys(row).filter((k) => k !== 'address').map((k) => `${k} = @${k}`).join(', ');
    this.db.prepare(`UPDATE directory_entries SET ${sets} WHERE address = @address`).run(row);
    return 'updated';
  }

  async get(address: string): Promise<DirectoryEntry | undefined> {
    const r = this.db.prepare('SELECT * FROM directory_entries WHERE address = ?').get(address.toLowerCase()) as EntryRow | undefined;
    return r ? fromRow(r) : undefined;
  }

  async findByIdentifier(identifier: string): Promise<DirectoryEntry[]> {
    const rows = this.db
      .prepare('SELECT * FROM directory_entries WHERE id_value = ? OR national_id = ? ORDER BY address')
      .all(identifier, identifier) as EntryRow[];
    return rows.map(fromRow);
  }

  async list(filter: { source?: string; domain?: string } = {}): Promise<DirectoryEntry[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.source) { where.push('source = ?'); params.push(filter.source); }
    if (filter.domain) { where.push('address LIKE ?'); params.push('%@' + filter.domain.toLowerCase()); }
    const sql = `SELECT * FROM directory_entries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY address`;
    return (this.db.prepare(sql).all(...params) as EntryRow[]).map(fromRow);
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
    return tx();
  }

  async isWhitelisted(domain: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM whitelist_domains WHERE domain = ?').get(domain.toLowerCase()) !== undefined;
  }

  async listWhitelist(): Promise<string[]> {
    return (this.db.prepare('SELECT domain FROM whitelist_domains ORDER BY domain').all() as { domain: string }[]).map((r) => r.domain);
  }
}
