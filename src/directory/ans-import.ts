import type { DirectoryEntry, IdentifierType, MailboxType } from '../store/types.js';
import { DirectoryErrorCode, DirectoryFormatError } from './errors.js';
import { isValidDomainName } from './whitelist.js';

/**
 * Reader of the ANS "Extraction_Correspondance_MSSante" file (public list of MSSanté mailboxes):
 * UTF-8, `|`-separated, one header row, one mailbox per row. Columns are found BY NAME because the
 * file has changed shape over time (31 to 33 columns, address columns sometimes suffixed
 * ` structure BAL`, accents present or not). A row that cannot be trusted is rejected with its line
 * number and a precise reason; only a header that lacks a needed column refuses the whole file.
 */

export interface AnsRejectedRow {
  /** 1-based line number in the file (the header is line 1). */
  line: number;
  reason: string;
  address?: string;
}

export interface AnsParseResult {
  entries: DirectoryEntry[];
  rejected: AnsRejectedRow[];
  /** Header names as found in the file (trimmed), in file order. */
  columns: string[];
}

/** The columns the import reads; aliases cover wordings seen in other versions of the file. */
const COLUMNS = {
  mailboxType: { name: 'Type de BAL', aliases: [] },
  address: { name: 'Adresse BAL', aliases: [] },
  ppIdType: { name: 'Type Identifiant PP', aliases: ["Type d'identifiant PP"] },
  ppId: { name: 'Identifiant PP', aliases: [] },
  nationalId: { name: 'Identification nationale PP', aliases: [] },
  structureIdType: { name: 'Type identifiant structure', aliases: ["Type d'identifiant structure"] },
  structureId: { name: 'Identification Structure', aliases: ['Identifiant structure'] },
  civility: { name: "Civilité d'exercice", aliases: [] },
  familyName: { name: "Nom d'exercice", aliases: [] },
  givenName: { name: "Prénom d'exercice", aliases: [] },
  professionCode: { name: 'Code profession', aliases: [] },
  professionLabel: { name: 'Libellé profession', aliases: [] },
  specialtyCode: { name: 'Code savoir-faire', aliases: [] },
  specialtyLabel: { name: 'Libellé savoir-faire', aliases: [] },
  organisation: { name: 'Raison sociale structure BAL', aliases: [] },
} as const satisfies Record<string, { name: string; aliases: readonly string[] }>;

type ColumnKey = keyof typeof COLUMNS;
type ColumnIndex = Record<ColumnKey, number>;
type Row = Record<ColumnKey, string>;

const SUFFIX = ' structure bal';
/** Known versions have 31–33 columns; far more means this is not the file we expect. */
const MAX_COLUMNS = 500;

/**
 * Lookup key of a header name: no accents, lower case, any run of punctuation or spaces (including
 * typographic apostrophes) collapsed to one space, trimmed.
 */
export function normaliseHeaderName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

/** Mailbox syntax accepted in the directory: dot-atom local part (RFC 5321) @ a valid domain name. */
export function isValidMailAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || address.length > 254) return false;
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase();
  return local.length <= 64 && LOCAL_PART.test(local) && isValidDomainName(domain);
}

export function parseAnsExtraction(text: string, opts: { now?: Date } = {}): AnsParseResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const headerLine = lines[0] ?? '';
  if (headerLine.trim() === '') {
    throw new DirectoryFormatError(DirectoryErrorCode.AnsEmpty, 'The ANS extraction is empty: no header row on line 1');
  }
  // split's limit stops early on a pathological line (megabytes of pipes), keeping the refusal cheap.
  const columns = headerLine.split('|', MAX_COLUMNS + 1).map((name) => name.trim());
  if (columns.length > MAX_COLUMNS) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.AnsMalformedHeader,
      `The ANS extraction header has more than ${MAX_COLUMNS} columns (about 32 expected); is this an Extraction_Correspondance_MSSante file?`,
    );
  }
  const index = locateColumns(columns);
  const updatedAt = (opts.now ?? new Date()).toISOString();

  const entries: DirectoryEntry[] = [];
  const rejected: AnsRejectedRow[] = [];
  const firstLineOf = new Map<string, number>();
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (raw.trim() === '') continue; // blank lines (e.g. the trailing one) carry nothing
    const line = i + 1;
    const fields = splitRow(raw, columns.length);
    if (typeof fields === 'string') {
      rejected.push({ line, reason: fields });
      continue;
    }
    const row = pick(fields, index);
    const outcome = rowToEntry(row, updatedAt);
    if (typeof outcome === 'string') {
      rejected.push(withAddress({ line, reason: outcome }, row.address));
      continue;
    }
    const first = firstLineOf.get(outcome.address);
    if (first !== undefined) {
      rejected.push({ line, reason: `"Adresse BAL" ${outcome.address} is a duplicate of line ${first}; the first occurrence is kept`, address: outcome.address });
      continue;
    }
    firstLineOf.set(outcome.address, line);
    entries.push(outcome);
  }
  return { entries, rejected, columns };
}

function locateColumns(columns: string[]): ColumnIndex {
  const positions = new Map<string, number[]>();
  // Cache: a malformed header can repeat the same name millions of times (e.g. a line of pipes).
  const keys = new Map<string, string>();
  columns.forEach((name, i) => {
    let key = keys.get(name);
    if (key === undefined) {
      key = normaliseHeaderName(name);
      keys.set(name, key);
    }
    const list = positions.get(key);
    if (list === undefined) positions.set(key, [i]);
    else list.push(i);
  });
  const missing: string[] = [];
  const index = {} as ColumnIndex;
  for (const [key, spec] of Object.entries(COLUMNS) as Array<[ColumnKey, (typeof COLUMNS)[ColumnKey]]>) {
    const found = findColumn([spec.name, ...spec.aliases], positions);
    if (found === undefined) {
      missing.push(spec.name);
      continue;
    }
    if (found.length > 1) {
      throw new DirectoryFormatError(
        DirectoryErrorCode.AnsDuplicateColumn,
        `The ANS extraction header has the column "${spec.name}" ${found.length} times (columns ${found.map((p) => p + 1).join(', ')}); cannot tell which one to read`,
        { column: spec.name },
      );
    }
    index[key] = found[0] as number;
  }
  if (missing.length > 0) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.AnsMissingColumn,
      `The ANS extraction header lacks the column "${missing[0]}"${missing.length > 1 ? ` (and ${missing.length - 1} more: ${missing.slice(1).map((m) => `"${m}"`).join(', ')})` : ''}; is this an Extraction_Correspondance_MSSante file?`,
      { column: missing[0], missing },
    );
  }
  return index;
}

/** A column is found under its name, with the ` structure BAL` suffix added, or with it removed. */
function findColumn(names: readonly string[], positions: Map<string, number[]>): number[] | undefined {
  for (const name of names) {
    const key = normaliseHeaderName(name);
    const base = key.endsWith(SUFFIX) ? key.slice(0, -SUFFIX.length) : key;
    const found = positions.get(key) ?? positions.get(base + SUFFIX) ?? positions.get(base);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Splits a row, or returns why it cannot be aligned with the header. */
function splitRow(raw: string, expected: number): string[] | string {
  const fields = raw.split('|');
  // Some producers end every row with a separator: one extra, empty, last field is harmless.
  if (fields.length === expected + 1 && (fields[expected] ?? '').trim() === '') fields.pop();
  if (fields.length !== expected) {
    return `the row has ${fields.length} fields but the header has ${expected}; a row that does not line up with the header cannot be read safely`;
  }
  return fields;
}

function pick(fields: string[], index: ColumnIndex): Row {
  const row = {} as Row;
  for (const key of Object.keys(index) as ColumnKey[]) row[key] = (fields[index[key]] ?? '').trim();
  return row;
}

function withAddress(rejected: AnsRejectedRow, address: string): AnsRejectedRow {
  return address === '' ? rejected : { ...rejected, address: address.length > 254 ? address.slice(0, 254) : address };
}

function rowToEntry(row: Row, updatedAt: string): DirectoryEntry | string {
  const mailboxType = row.mailboxType.toUpperCase();
  if (!isMailboxType(mailboxType)) {
    return `"Type de BAL" is ${quote(row.mailboxType)}; expected PER, ORG or APP`;
  }
  if (row.address === '') return '"Adresse BAL" is empty; every row needs the mailbox address';
  if (!isValidMailAddress(row.address)) {
    return `"Adresse BAL" ${quote(row.address)} is not a valid mail address; expected local-part@domain (e.g. jean.dupont@operateur.mssante.fr)`;
  }
  const person = readPersonIdentifier(row);
  if (typeof person === 'string') return person;
  const structure = readStructureIdentifier(row);

  // Persons are known by their RPPS/ADELI; organisations and applications by their structure,
  // falling back to a person identifier when the structure is not given.
  const identifier = mailboxType === 'PER' ? person : (structure ?? person);
  return {
    address: row.address.toLowerCase(),
    mailboxType,
    idType: identifier?.type ?? null,
    idValue: identifier?.value ?? null,
    nationalId: person?.nationalId ?? null,
    civility: orNull(row.civility),
    familyName: orNull(row.familyName),
    givenName: orNull(row.givenName),
    professionCode: orNull(row.professionCode),
    professionLabel: orNull(row.professionLabel),
    specialtyCode: orNull(row.specialtyCode),
    specialtyLabel: orNull(row.specialtyLabel),
    organisation: orNull(row.organisation),
    status: 'active',
    certificatePem: null,
    pgpPublicKey: null,
    source: 'ans',
    updatedAt,
  };
}

interface Identifier {
  type: IdentifierType;
  value: string;
  nationalId?: string;
}

const PP_TYPES: Record<string, { type: 'RPPS' | 'ADELI'; shape: RegExp; expected: string }> = {
  '8': { type: 'RPPS', shape: /^\d{11}$/, expected: '11 digits' },
  // ADELI numbers start with the département, which is 2A/2B in Corsica.
  '0': { type: 'ADELI', shape: /^(?:\d{2}|2A|2B)\d{7}$/, expected: '9 characters: 9 digits, or 2A/2B + 7 digits' },
};

/**
 * RPPS/ADELI of the row: `Type Identifiant PP` + `Identifiant PP`, cross-checked with
 * `Identification nationale PP` (= type digit + identifier). Any two of the three suffice. A row
 * without any of them has no person identifier (the ANS lists personal mailboxes that are not
 * attached to a national identifier); a row whose identifiers are inconsistent is rejected.
 */
function readPersonIdentifier(row: Row): Identifier | undefined | string {
  let typeDigit = row.ppIdType;
  let id = row.ppId.toUpperCase();
  const national = row.nationalId.toUpperCase();
  if (typeDigit === '' && id === '' && national === '') return undefined;
  if (typeDigit !== '' && PP_TYPES[typeDigit] === undefined) {
    return `"Type Identifiant PP" is ${quote(typeDigit)}; expected 8 (RPPS) or 0 (ADELI)`;
  }
  if (typeDigit === '' || id === '') {
    if (national === '') {
      return typeDigit === ''
        ? `"Type Identifiant PP" is empty while "Identifiant PP" is given; expected 8 (RPPS) or 0 (ADELI)`
        : `"Identifiant PP" and "Identification nationale PP" are empty while "Type Identifiant PP" is ${typeDigit}`;
    }
    // Derive the missing part from the national identifier.
    const derivedType = national.slice(0, 1);
    if (typeDigit === '') typeDigit = derivedType;
    if (id === '') id = national.slice(1);
    if (PP_TYPES[typeDigit] === undefined) {
      return `"Identification nationale PP" ${quote(national)} starts with ${quote(derivedType)}; expected 8 (RPPS) or 0 (ADELI)`;
    }
  }
  const spec = PP_TYPES[typeDigit] as (typeof PP_TYPES)[string];
  if (!spec.shape.test(id)) {
    return `"Identifiant PP" ${quote(id)} is not a valid ${spec.type} number; expected ${spec.expected}`;
  }
  const expectedNational = typeDigit + id;
  if (national !== '' && national !== expectedNational) {
    return `"Identification nationale PP" ${quote(national)} does not match "Type Identifiant PP" + "Identifiant PP"; expected ${expectedNational}`;
  }
  return { type: spec.type, value: id, nationalId: expectedNational };
}

/** A 9-character value shaped like a FINESS number (département, incl. 2A/2B, + 7 digits). */
const FINESS_SHAPE = /^(?:\d{2}|2A|2B)\d{7}$/;

/**
 * Structure identifier of the row. Unconfirmed: the meaning of every `Type identifiant structure`
 * code is not documented here, so the type is decided by the value's shape: FINESS when it looks
 * like one, INTERNAL otherwise (SIRET, cabinet numbers...). The value is kept either way.
 */
function readStructureIdentifier(row: Row): Identifier | undefined {
  const value = row.structureId.toUpperCase();
  if (value === '') return undefined;
  return { type: FINESS_SHAPE.test(value) ? 'FINESS' : 'INTERNAL', value };
}

function isMailboxType(value: string): value is MailboxType {
  return value === 'PER' || value === 'ORG' || value === 'APP';
}

function orNull(value: string): string | null {
  return value === '' ? null : value;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}
