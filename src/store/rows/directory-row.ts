/** The `directory_entries` row as both stores read and write it, and its mapping to a DirectoryEntry. */
import type { DirectoryEntry, EntryStatus } from '../types.js';

export interface EntryRow {
  address: string; mailbox_type: string; id_type: string | null; id_value: string | null; national_id: string | null;
  civility: string | null; family_name: string | null; given_name: string | null; profession_code: string | null;
  profession_label: string | null; specialty_code: string | null; specialty_label: string | null; organisation: string | null;
  status: string; certificate_pem: string | null; pgp_public_key: string | null; source: string; updated_at: string;
}

export const entryToRow = (e: DirectoryEntry): EntryRow => ({
  address: e.address.toLowerCase(), mailbox_type: e.mailboxType, id_type: e.idType, id_value: e.idValue, national_id: e.nationalId,
  civility: e.civility, family_name: e.familyName, given_name: e.givenName, profession_code: e.professionCode,
  profession_label: e.professionLabel, specialty_code: e.specialtyCode, specialty_label: e.specialtyLabel, organisation: e.organisation,
  status: e.status, certificate_pem: e.certificatePem, pgp_public_key: e.pgpPublicKey, source: e.source, updated_at: e.updatedAt,
});

export const entryFrom = (r: EntryRow): DirectoryEntry => ({
  address: r.address, mailboxType: r.mailbox_type as DirectoryEntry['mailboxType'], idType: r.id_type as DirectoryEntry['idType'],
  idValue: r.id_value, nationalId: r.national_id, civility: r.civility, familyName: r.family_name, givenName: r.given_name,
  professionCode: r.profession_code, professionLabel: r.profession_label, specialtyCode: r.specialty_code,
  specialtyLabel: r.specialty_label, organisation: r.organisation, status: r.status as EntryStatus,
  certificatePem: r.certificate_pem, pgpPublicKey: r.pgp_public_key, source: r.source, updatedAt: r.updated_at,
});

/** Every column, in one order, for an INSERT of a whole entry. */
export const ENTRY_COLUMNS = Object.keys(entryToRow({ address: '' } as DirectoryEntry)) as (keyof EntryRow)[];

/** Fields compared to decide whether an upsert changes anything (updatedAt excluded). */
export const ENTRY_COMPARED: (keyof EntryRow)[] = [
  'mailbox_type', 'id_type', 'id_value', 'national_id', 'civility', 'family_name', 'given_name',
  'profession_code', 'profession_label', 'specialty_code', 'specialty_label', 'organisation',
  'status', 'certificate_pem', 'pgp_public_key', 'source',
];
