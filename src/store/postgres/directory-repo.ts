import type { DirectoryEntry, DirectoryRepo, EntryStatus, UpsertOutcome } from '../types.js';
import type { PgDatabase } from './pg-database.js';
import type { ReadCache } from './read-cache.js';

interface EntryRow {
  address: string; mailbox_type: string; id_type: string | null; id_value: string | null; national_id: string | null;
  civility: string | null; family_name: string | null; given_name: string | null; profession_code: string | null;
  profession_label: string | null; specialty_code: string | null; specialty_label: string | null; organisation: string | null;
  status: string; certificate_pem: string | null; pgp_public_key: string | null; source: string; updated_at: string;
}

const toRow = (e: DirectoryEntry): EntryRow => ({
  address: e.address.toLowerCase(), mailbox_type: e.mailboxType, id_type: e.idType, id_value: e.idValue, national_id: e.nationalId,
  civility: e.civility, family_name: e.familyName, given_name: e.givenName, profession_code: e.professionCode,
  profession_label: e.professionLabel, specialty_code: e.specialtyCode, specialty_label: e.specialtyLabel, organisation: e.organisation,
  status: e.status, certificate_pem: e.certificatePem, pgp_public_key: e.pgpPublicKey, source: e.source, updated_at: e.updatedAt,
});

const fromRow = (r: EntryRow): DirectoryEntry => ({
  address: r.address, mailboxType: r.mailbox_type as DirectoryEntry['mailboxType'], idType: r.id_type as DirectoryEntry['idType'],
  idValue: r.id_value, nationalId: r.national_id, civility: r.civility, familyName: r.family_name, givenName: r.given_name,
  professionCode: r.profession_code, professionLabel: r.profession_label, specialtyCode: r.specialty_code,
  specialtyLabel: r.specialty_label, organisation: r.organisation, status: r.status as EntryStatus,
  certificatePem: r.certificate_pem, pgpPublicKey: r.pgp_public_key, source: r.source, updatedAt: r.updated_at,
});

/** Fields compared to decide whether an upsert changes anything (updatedAt excluded), as in SQLite. */
const COMPARED: (keyof EntryRow)[] = [
  'mailbox_type', 'id_type', 'id_value', 'national_id', 'civility', 'family_name', 'given_name',
  'profession_code', 'profession_label', 'specialty_code', 'specialty_label', 'organisation',
  'status', 'certificate_pem', 'pgp_public_key', 'source',
];
const ALL = Object.keys(toRow({ address: '' } as DirectoryEntry)) as (keyof EntryRow)[];

export class PgDirectoryRepo implements DirectoryRepo {
  constructor(private readonly db: PgDatabase, private readonly cache?: ReadCache) {}

  async upsert(entry: DirectoryEntry): Promise<UpsertOutcome> {
    const row = toRow(entry);
    const values = ALL.map((k) => row[k]);
    // Insert first: two nodes importing the same new entry at once get one 'inserted', never an error.
    const ins = await this.db.query(`INSERT INTO directory_entries (${ALL.join(', ')}) VALUES (${ALL.map((_, i) => `$${i + 1}`).join(', ')})
      ON CONFLICT (address) DO NOTHING`, values);
    if ((ins.rowCount ?? 0) > 0) { this.cache?.written('directory', row.address); return 'inserted'; }
    const existing = await this.db.one<EntryRow>('SELECT * FROM directory_entries WHERE address = $1', [row.address]);
    if (existing && COMPARED.every((k) => existing[k] === row[k])) return 'unchanged';
    const sets = ALL.filter((k) => k !== 'address').map((k) => `${k} = $${ALL.indexOf(k) + 1}`).join(', ');
    await this.db.query(`UPDATE directory_entries SET ${sets} WHERE address = $1`, values);
    this.cache?.written('directory', row.address);
    return 'updated';
  }

  async get(address: string): Promise<DirectoryEntry | undefined> {
    const a = address.toLowerCase();
    const load = async (): Promise<DirectoryEntry | undefined> => {
      const r = await this.db.one<EntryRow>('SELECT * FROM directory_entries WHERE address = $1', [a]);
      return r ? fromRow(r) : undefined;
    };
    return this.cache ? this.cache.get('directory', a, load, (v) => (v ? { ...v } : v)) : load();
  }

  async findByIdentifier(identifier: string): Promise<DirectoryEntry[]> {
    return (await this.db.rows<EntryRow>('SELECT * FROM directory_entries WHERE id_value = $1 OR national_id = $1 ORDER BY address COLLATE "C"', [identifier])).map(fromRow);
  }

  async list(filter: { source?: string; domain?: string } = {}): Promise<DirectoryEntry[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.source) { params.push(filter.source); where.push(`source = $${params.length}`); }
    if (filter.domain) { params.push('%@' + filter.domain.toLowerCase()); where.push(`address LIKE $${params.length}`); }
    const sql = `SELECT * FROM directory_entries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY address COLLATE "C"`;
    return (await this.db.rows<EntryRow>(sql, params)).map(fromRow);
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
