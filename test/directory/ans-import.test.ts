import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isMedgateError } from '../../src/errors.js';
import { isValidMailAddress, normaliseHeaderName, parseAnsExtraction } from '../../src/directory/ans-import.js';
import { DirectoryErrorCode } from '../../src/directory/errors.js';
import {
  ADDRESS_COLUMNS,
  ANS_COLUMNS,
  buildAnsFile,
  canonicalHeader,
  doctorRow,
  organisationRow,
  seededRandom,
  shuffle,
  type AnsRow,
} from './ans-fixtures.js';

const SAMPLE = readFileSync(new URL('../../../shared/samples/ans-extraction-mssante.txt', import.meta.url), 'utf8');
const NOW = new Date('2025-01-02T03:04:05.000Z');

function parseRows(rows: AnsRow[]) {
  return parseAnsExtraction(buildAnsFile(rows), { now: NOW });
}

function rejectionOf(row: AnsRow) {
  const result = parseRows([row]);
  expect(result.entries).toHaveLength(0);
  expect(result.rejected).toHaveLength(1);
  return result.rejected[0]!;
}

describe('parseAnsExtraction on the shared sample', () => {
  const result = parseAnsExtraction(SAMPLE, { now: NOW });

  it('gives 9 entries and rejects the deliberately invalid row with its line and reason', () => {
    expect(result.entries).toHaveLength(9);
    expect(result.rejected).toEqual([
      {
        line: 10,
        address: 'pas-une-adresse',
        reason: expect.stringMatching(/"Adresse BAL" "pas-une-adresse" is not a valid mail address; expected local-part@domain/),
      },
    ]);
    expect(result.columns).toHaveLength(32);
    expect(result.columns[8]).toBe("Civilité d'exercice");
  });

  it('maps a doctor row field by field', () => {
    expect(result.entries[0]).toEqual({
      address: 'paul.demo@cabinet-antony.medgate.test',
      mailboxType: 'PER',
      idType: 'RPPS',
      idValue: '10100000017',
      nationalId: '810100000017',
      civility: 'DR',
      familyName: 'DEMO',
      givenName: 'Paul',
      professionCode: '10',
      professionLabel: 'Médecin',
      specialtyCode: 'SM54',
      specialtyLabel: 'Médecine générale',
      organisation: 'Cabinet médical des Plantes',
      status: 'active',
      certificatePem: null,
      pgpPublicKey: null,
      source: 'ans',
      updatedAt: NOW.toISOString(),
    });
  });

  it('maps an ADELI nurse and an organisation', () => {
    const nurse = result.entries.find((e) => e.address === 'sophie.infirmiere@soins-antony.medgate.test');
    expect(nurse).toMatchObject({ idType: 'ADELI', idValue: '929999999', nationalId: '0929999999', professionCode: '60', specialtyCode: null });
    const org = result.entries.find((e) => e.address === 'secretariat@cabinet-antony.medgate.test');
    expect(org).toMatchObject({ mailboxType: 'ORG', idType: 'FINESS', idValue: '920000000', nationalId: null, familyName: null, organisation: 'Cabinet médical des Plantes' });
  });

  it('is deterministic: the same input gives the same entries', () => {
    expect(parseAnsExtraction(SAMPLE, { now: NOW })).toEqual(result);
    // Without a fixed clock only updatedAt may differ.
    const strip = (r: ReturnType<typeof parseAnsExtraction>) => r.entries.map(({ updatedAt: _u, ...rest }) => rest);
    expect(strip(parseAnsExtraction(SAMPLE))).toEqual(strip(result));
  });

  it('stamps updatedAt with the current time by default', () => {
    const before = Date.now();
    const [first] = parseAnsExtraction(SAMPLE).entries;
    expect(Date.parse(first!.updatedAt)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(first!.updatedAt)).toBeLessThanOrEqual(Date.now() + 1);
  });
});

describe('parseAnsExtraction on file variants', () => {
  const rows = [doctorRow(), organisationRow()];
  const reference = parseRows(rows).entries;

  it('reads the reference fixture', () => {
    expect(reference.map((e) => e.address)).toEqual(['jean.test@cabinet.medgate.test', 'secretariat@cabinet.medgate.test']);
  });

  it('reads a 33-column version (an extra unknown column)', () => {
    const header = [...canonicalHeader(), { written: 'Date de mise à jour', canonical: null }];
    const result = parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW });
    expect(result.columns).toHaveLength(33);
    expect(result.entries).toEqual(reference);
  });

  it('reads a 31-column version (one address column fewer)', () => {
    const header = canonicalHeader().filter((h) => h.written !== 'Complément point géographique');
    const result = parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW });
    expect(result.columns).toHaveLength(31);
    expect(result.entries).toEqual(reference);
  });

  it('reads address columns suffixed with " structure BAL"', () => {
    const header = canonicalHeader().map((h) =>
      (ADDRESS_COLUMNS as readonly string[]).includes(h.written) ? { written: `${h.written} structure BAL`, canonical: h.canonical } : h,
    );
    expect(parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW }).entries).toEqual(reference);
  });

  it('reads "Raison sociale" without the suffix', () => {
    const header = canonicalHeader().map((h) => (h.written === 'Raison sociale structure BAL' ? { written: 'Raison sociale', canonical: h.canonical } : h));
    expect(parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW }).entries).toEqual(reference);
  });

  it('reads header names without accents, in another case, with surrounding spaces and typographic apostrophes', () => {
    const header = canonicalHeader().map((h) => ({
      written: `  ${h.written.normalize('NFD').replace(/\p{M}/gu, '').toUpperCase().replace("'", '\u2019')} `,
      canonical: h.canonical,
    }));
    expect(parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW }).entries).toEqual(reference);
  });

  it('reads the "Type d\'identifiant PP" wording', () => {
    const header = canonicalHeader().map((h) => (h.written === 'Type Identifiant PP' ? { written: "Type d'identifiant PP", canonical: h.canonical } : h));
    expect(parseAnsExtraction(buildAnsFile(rows, { header }), { now: NOW }).entries).toEqual(reference);
  });

  it('reads CRLF line endings, a BOM, and no trailing newline', () => {
    expect(parseAnsExtraction(buildAnsFile(rows, { eol: '\r\n', bom: true }), { now: NOW })).toEqual(parseRows(rows));
    expect(parseAnsExtraction(buildAnsFile(rows, { trailingNewline: false }), { now: NOW }).entries).toEqual(reference);
    const withBom = parseAnsExtraction(buildAnsFile(rows, { bom: true }), { now: NOW });
    expect(withBom.columns[0]).toBe('Type de BAL');
  });

  it('skips blank lines but keeps counting them for line numbers', () => {
    const text = buildAnsFile([doctorRow()]) + '\n  \n' + buildAnsFile([doctorRow({ 'Type de BAL': 'XYZ' })]).split('\n')[1] + '\n\n';
    const result = parseAnsExtraction(text, { now: NOW });
    expect(result.entries).toHaveLength(1);
    expect(result.rejected).toEqual([expect.objectContaining({ line: 5 })]);
  });

  it('reads shuffled column orders (seeded)', () => {
    const random = seededRandom(20250102);
    for (let round = 0; round < 20; round++) {
      const header = shuffle(canonicalHeader(), random);
      const result = parseAnsExtraction(buildAnsFile(rows, { header, eol: round % 2 ? '\r\n' : '\n' }), { now: NOW });
      expect(result.entries).toEqual(reference);
      expect(result.rejected).toEqual([]);
    }
  });

  it('accepts rows ending with an extra empty separator', () => {
    const text = buildAnsFile(rows).split('\n').map((line, i) => (i === 0 || line === '' ? line : `${line}|`)).join('\n');
    expect(parseAnsExtraction(text, { now: NOW }).entries).toEqual(reference);
  });

  it('accepts APP mailboxes and lower-case mailbox types', () => {
    const result = parseRows([organisationRow({ 'Type de BAL': 'APP', 'Adresse BAL': 'lgc@cabinet.medgate.test' }), doctorRow({ 'Type de BAL': ' per ' })]);
    expect(result.entries.map((e) => e.mailboxType)).toEqual(['APP', 'PER']);
  });
});

describe('parseAnsExtraction header errors (whole file refused)', () => {
  it('names a missing required column', () => {
    for (const column of ['Adresse BAL', 'Type de BAL', 'Identification nationale PP', "Nom d'exercice", 'Libellé savoir-faire']) {
      const header = canonicalHeader().filter((h) => h.written !== column);
      let caught: unknown;
      try {
        parseAnsExtraction(buildAnsFile([doctorRow()], { header }));
      } catch (err) {
        caught = err;
      }
      expect(isMedgateError(caught)).toBe(true);
      expect(caught).toMatchObject({ code: DirectoryErrorCode.AnsMissingColumn, details: { column } });
      expect((caught as Error).message).toContain(`"${column}"`);
    }
  });

  it('lists every missing column when a foreign file is given', () => {
    expect(() => parseAnsExtraction('name;email\nJean;jean@x.fr\n')).toThrow(/lacks the column "Type de BAL" \(and 14 more/);
  });

  it('refuses an empty file', () => {
    for (const text of ['', '\uFEFF', '\n\n', '   \r\n']) {
      expect(() => parseAnsExtraction(text)).toThrow(expect.objectContaining({ code: DirectoryErrorCode.AnsEmpty }));
    }
  });

  it('refuses a header naming a needed column twice', () => {
    const header = [...canonicalHeader(), { written: 'ADRESSE BAL', canonical: 'Adresse BAL' }];
    expect(() => parseAnsExtraction(buildAnsFile([doctorRow()], { header }))).toThrow(
      expect.objectContaining({ code: DirectoryErrorCode.AnsDuplicateColumn, details: { column: 'Adresse BAL' } }),
    );
  });

  it('refuses a header with an implausible number of columns', () => {
    expect(() => parseAnsExtraction(`${'|'.repeat(600)}\n`)).toThrow(expect.objectContaining({ code: DirectoryErrorCode.AnsMalformedHeader }));
    const wide = [...canonicalHeader(), ...Array.from({ length: 400 }, (_, i) => ({ written: `Extra ${i}`, canonical: null }))];
    expect(parseAnsExtraction(buildAnsFile([doctorRow()], { header: wide })).entries).toHaveLength(1);
  });

  it('accepts a header-only file with no entries', () => {
    expect(parseAnsExtraction(buildAnsFile([]))).toMatchObject({ entries: [], rejected: [] });
  });
});

describe('parseAnsExtraction row rejections', () => {
  it('rejects an unknown mailbox type', () => {
    expect(rejectionOf(doctorRow({ 'Type de BAL': 'BAL' }))).toEqual({
      line: 2,
      address: 'Jean.Test@cabinet.medgate.test',
      reason: '"Type de BAL" is "BAL"; expected PER, ORG or APP',
    });
    expect(rejectionOf(doctorRow({ 'Type de BAL': '' })).reason).toBe('"Type de BAL" is ""; expected PER, ORG or APP');
  });

  it('rejects an empty or malformed address', () => {
    expect(rejectionOf(doctorRow({ 'Adresse BAL': '' }))).toEqual({ line: 2, reason: '"Adresse BAL" is empty; every row needs the mailbox address' });
    for (const bad of ['a@b', 'a b@cabinet.fr', '@cabinet.fr', 'a..b@cabinet.fr', 'a@-cabinet.fr', 'a@cabinet.123', `${'x'.repeat(65)}@cabinet.fr`]) {
      expect(rejectionOf(doctorRow({ 'Adresse BAL': bad })).reason).toMatch(/^"Adresse BAL" .* is not a valid mail address/);
    }
  });

  it('rejects an unknown person identifier type', () => {
    expect(rejectionOf(doctorRow({ 'Type Identifiant PP': '3' })).reason).toBe('"Type Identifiant PP" is "3"; expected 8 (RPPS) or 0 (ADELI)');
  });

  it('rejects identifiers of the wrong length or with non-digits', () => {
    expect(rejectionOf(doctorRow({ 'Identifiant PP': '1010000001', 'Identification nationale PP': '' })).reason).toBe(
      '"Identifiant PP" "1010000001" is not a valid RPPS number; expected 11 digits',
    );
    expect(rejectionOf(doctorRow({ 'Identifiant PP': '1010000001X', 'Identification nationale PP': '' })).reason).toMatch(/not a valid RPPS number/);
    expect(
      rejectionOf(doctorRow({ 'Type Identifiant PP': '0', 'Identifiant PP': '12345678', 'Identification nationale PP': '' })).reason,
    ).toBe('"Identifiant PP" "12345678" is not a valid ADELI number; expected 9 characters: 9 digits, or 2A/2B + 7 digits');
  });

  it('rejects a national identifier that does not match type + identifier', () => {
    expect(rejectionOf(doctorRow({ 'Identification nationale PP': '810100000025' })).reason).toBe(
      '"Identification nationale PP" "810100000025" does not match "Type Identifiant PP" + "Identifiant PP"; expected 810100000017',
    );
    expect(rejectionOf(doctorRow({ 'Identification nationale PP': '010100000017' })).reason).toMatch(/does not match/);
  });

  it('rejects a type without identifier, and an identifier without type', () => {
    expect(rejectionOf(doctorRow({ 'Identifiant PP': '', 'Identification nationale PP': '' })).reason).toBe(
      '"Identifiant PP" and "Identification nationale PP" are empty while "Type Identifiant PP" is 8',
    );
    expect(rejectionOf(doctorRow({ 'Type Identifiant PP': '', 'Identification nationale PP': '' })).reason).toBe(
      '"Type Identifiant PP" is empty while "Identifiant PP" is given; expected 8 (RPPS) or 0 (ADELI)',
    );
  });

  it('rejects a national identifier with an unknown leading digit when it is the only identifier', () => {
    expect(
      rejectionOf(doctorRow({ 'Type Identifiant PP': '', 'Identifiant PP': '', 'Identification nationale PP': '510100000017' })).reason,
    ).toBe('"Identification nationale PP" "510100000017" starts with "5"; expected 8 (RPPS) or 0 (ADELI)');
  });

  it('derives the missing parts from the national identifier', () => {
    const onlyNational = parseRows([doctorRow({ 'Type Identifiant PP': '', 'Identifiant PP': '' })]).entries[0];
    expect(onlyNational).toMatchObject({ idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017' });
    const withoutNational = parseRows([doctorRow({ 'Identification nationale PP': '' })]).entries[0];
    expect(withoutNational).toMatchObject({ idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017' });
    const corsica = parseRows([doctorRow({ 'Type Identifiant PP': '0', 'Identifiant PP': '2a1234567', 'Identification nationale PP': '' })]).entries[0];
    expect(corsica).toMatchObject({ idType: 'ADELI', idValue: '2A1234567', nationalId: '02A1234567' });
  });

  it('accepts a personal mailbox without national identifier', () => {
    const entry = parseRows([doctorRow({ 'Type Identifiant PP': '', 'Identifiant PP': '', 'Identification nationale PP': '' })]).entries[0];
    expect(entry).toMatchObject({ mailboxType: 'PER', idType: null, idValue: null, nationalId: null });
  });

  it('types structure identifiers by their shape and falls back to the person identifier', () => {
    const [finess, siret, none] = parseRows([
      organisationRow(),
      organisationRow({ 'Adresse BAL': 'b@cabinet.medgate.test', 'Type identifiant structure': '3', 'Identification Structure': '12345678900011' }),
      organisationRow({ 'Adresse BAL': 'c@cabinet.medgate.test', 'Identification Structure': '', 'Type Identifiant PP': '8', 'Identifiant PP': '10100000017' }),
    ]).entries;
    expect(finess).toMatchObject({ idType: 'FINESS', idValue: '920000000' });
    expect(siret).toMatchObject({ idType: 'INTERNAL', idValue: '12345678900011' });
    expect(none).toMatchObject({ idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017' });
  });

  it('rejects a row whose field count does not match the header', () => {
    const text = buildAnsFile([doctorRow()]).replace(/\n$/, '') + '|extra|more\nPER|short@cabinet.medgate.test|8\n';
    const result = parseAnsExtraction(text, { now: NOW });
    expect(result.entries).toHaveLength(0);
    expect(result.rejected).toEqual([
      { line: 2, reason: 'the row has 34 fields but the header has 32; a row that does not line up with the header cannot be read safely' },
      { line: 3, reason: 'the row has 3 fields but the header has 32; a row that does not line up with the header cannot be read safely' },
    ]);
  });

  it('keeps the first of duplicate addresses (case-insensitively) and rejects the later ones', () => {
    const result = parseRows([
      doctorRow(),
      organisationRow(),
      doctorRow({ 'Adresse BAL': 'JEAN.TEST@CABINET.MEDGATE.TEST', "Nom d'exercice": 'AUTRE' }),
    ]);
    expect(result.entries.map((e) => e.familyName)).toEqual(['TEST', null]);
    expect(result.rejected).toEqual([
      {
        line: 4,
        address: 'jean.test@cabinet.medgate.test',
        reason: '"Adresse BAL" jean.test@cabinet.medgate.test is a duplicate of line 2; the first occurrence is kept',
      },
    ]);
  });

  it('keeps processing after rejected rows', () => {
    const result = parseRows([doctorRow({ 'Type de BAL': '?' }), organisationRow(), doctorRow({ 'Adresse BAL': 'x' }), doctorRow()]);
    expect(result.entries).toHaveLength(2);
    expect(result.rejected.map((r) => r.line)).toEqual([2, 4]);
  });
});

describe('helpers', () => {
  it('normalises header names', () => {
    expect(normaliseHeaderName("  Civilité D\u2019EXERCICE ")).toBe('civilite d exercice');
    expect(normaliseHeaderName('Lieu-dit / Bureau cedex')).toBe('lieu dit bureau cedex');
    expect(ANS_COLUMNS.map(normaliseHeaderName).every((n) => /^[a-z0-9 ]+$/.test(n))).toBe(true);
  });

  it('validates mail addresses', () => {
    expect(isValidMailAddress('a.b+c@sub.cabinet.fr')).toBe(true);
    expect(isValidMailAddress('A@B.FR')).toBe(true);
    expect(isValidMailAddress('a@b@c.fr')).toBe(false);
    expect(isValidMailAddress('.a@c.fr')).toBe(false);
    expect(isValidMailAddress('a@localhost')).toBe(false);
  });
});
