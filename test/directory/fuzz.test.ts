import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isMedgateError } from '../../src/errors.js';
import { parseAnsExtraction } from '../../src/directory/ans-import.js';
import { parseDirectoryExport } from '../../src/directory/peer-export.js';
import { parseWhitelist } from '../../src/directory/whitelist.js';
import { buildAnsFile, doctorRow, seededRandom } from './ans-fixtures.js';

/**
 * Robustness: whatever the input, a parser returns or throws a MedgateError — never another
 * exception — and does so quickly. Inputs come from a seeded PRNG so a failure is reproducible.
 */
const ANS_SAMPLE = readFileSync(new URL('../../../shared/samples/ans-extraction-mssante.txt', import.meta.url), 'utf8');
const WHITELIST_SAMPLE = readFileSync(new URL('../../../shared/samples/liste-blanche.xml', import.meta.url), 'utf8');
const PER_CASE_MS = 2_000;
/** 5 MB inputs get a looser bound: a loaded two-core CI machine must not make the suite flaky. */
const LARGE_CASE_MS = 6_000;

type Outcome = 'returned' | 'refused';

function outcomeOf(parse: () => unknown, label: string, limitMs = PER_CASE_MS): Outcome {
  const started = performance.now();
  let outcome: Outcome;
  try {
    parse();
    outcome = 'returned';
  } catch (err) {
    if (!isMedgateError(err)) throw new Error(`${label}: threw a non-Medgate error: ${String(err)}`);
    expect(err.code, label).toMatch(/^DIRECTORY_/);
    outcome = 'refused';
  }
  expect(performance.now() - started, `${label} took too long`).toBeLessThan(limitMs);
  return outcome;
}

function randomString(random: () => number, length: number, alphabet: string | null): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += alphabet === null ? String.fromCharCode(Math.floor(random() * 0x10000)) : alphabet[Math.floor(random() * alphabet.length)];
  }
  return out;
}

/** A long random string made of a repeated random chunk: cheap to build, still noisy. */
function longNoise(random: () => number, length: number, alphabet: string): string {
  const chunk = randomString(random, 65_536, alphabet);
  return chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length);
}

function randomBytesAsText(random: () => number, length: number): string {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return new TextDecoder('utf-8').decode(bytes);
}

/** Replaces, deletes or inserts characters at random positions. */
function mutateText(random: () => number, text: string, alphabet: string, maxEdits = 20): string {
  const chars = [...text];
  const edits = 1 + Math.floor(random() * maxEdits);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (chars.length + 1));
    const op = random();
    const char = alphabet[Math.floor(random() * alphabet.length)] as string;
    if (op < 0.4) chars.splice(at, 1, char);
    else if (op < 0.7) chars.splice(at, 1);
    else chars.splice(at, 0, char);
  }
  return chars.join('');
}

const ANS_ALPHABET = '||||\n\n\r \uFEFFPERORGAPP@.8 0 1234567890abcxyzé-\'';
const XML_ALPHABET = '<<>>//="\' \n:!?&;DomaineNomListeBlanchexmlns.fr\uFEFF';

describe('ANS extraction parser fuzzing', () => {
  it('survives random bytes, random pipes/newlines, truncations and mutations', () => {
    const random = seededRandom(0xa5a5);
    const outcomes = { returned: 0, refused: 0 };
    for (let round = 0; round < 300; round++) {
      const kind = round % 5;
      let input: string;
      if (kind === 0) input = randomBytesAsText(random, Math.floor(random() * 4000));
      else if (kind === 1) input = randomString(random, Math.floor(random() * 4000), ANS_ALPHABET);
      else if (kind === 2) input = ANS_SAMPLE.slice(0, Math.floor(random() * ANS_SAMPLE.length));
      else if (kind === 3) input = mutateText(random, ANS_SAMPLE, ANS_ALPHABET);
      // A valid header followed by random rows: exercises the row code rather than the header check.
      else input = ANS_SAMPLE.split('\n')[0] + '\n' + randomString(random, Math.floor(random() * 4000), ANS_ALPHABET);
      outcomes[outcomeOf(() => parseAnsExtraction(input), `ANS round ${round}`)]++;
    }
    // Both paths are exercised, otherwise the fuzzing proves little.
    expect(outcomes.returned).toBeGreaterThan(50);
    expect(outcomes.refused).toBeGreaterThan(50);
  });

  it('survives a 5 MB single line, with and without a valid header', () => {
    const random = seededRandom(5);
    const noise = longNoise(random, 5 * 1024 * 1024, 'ab|| c\u00e9');
    expect(outcomeOf(() => parseAnsExtraction(noise), '5 MB header line', LARGE_CASE_MS)).toBe('refused');
    expect(outcomeOf(() => parseAnsExtraction('|'.repeat(5 * 1024 * 1024)), '5 MB of pipes', LARGE_CASE_MS)).toBe('refused');
    expect(outcomeOf(() => parseAnsExtraction('x'.repeat(5 * 1024 * 1024)), '5 MB without separator', LARGE_CASE_MS)).toBe('refused');
    const header = ANS_SAMPLE.split('\n')[0];
    const started = performance.now();
    const result = parseAnsExtraction(`${header}\n${noise}\n`);
    expect(performance.now() - started).toBeLessThan(LARGE_CASE_MS);
    expect(result.entries).toEqual([]);
    expect(result.rejected).toHaveLength(1);
    expect(result.rejected[0]!.line).toBe(2);
  });

  it('parses 100 000 synthetic rows in a few seconds', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => {
      const rpps = String(10_000_000_000 + i);
      return doctorRow({ 'Adresse BAL': `doc${i}@cabinet.medgate.test`, 'Identifiant PP': rpps, 'Identification nationale PP': `8${rpps}` });
    });
    const text = buildAnsFile(rows);
    const started = performance.now();
    const result = parseAnsExtraction(text);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result.entries).toHaveLength(100_000);
    expect(result.rejected).toEqual([]);
    expect(result.entries[99_999]!.nationalId).toBe('810000099999');
  });
});

describe('whitelist parser fuzzing', () => {
  it('survives random bytes, random markup, truncations and mutations', () => {
    const random = seededRandom(0x5eed);
    const outcomes = { returned: 0, refused: 0 };
    for (let round = 0; round < 300; round++) {
      const kind = round % 4;
      let input: string;
      if (kind === 0) input = randomBytesAsText(random, Math.floor(random() * 4000));
      else if (kind === 1) input = randomString(random, Math.floor(random() * 2000), XML_ALPHABET);
      else if (kind === 2) input = WHITELIST_SAMPLE.slice(0, Math.floor(random() * WHITELIST_SAMPLE.length));
      else input = mutateText(random, WHITELIST_SAMPLE, XML_ALPHABET, 3);
      outcomes[outcomeOf(() => parseWhitelist(input), `whitelist round ${round}`)]++;
    }
    expect(outcomes.returned).toBeGreaterThan(5);
    expect(outcomes.refused).toBeGreaterThan(50);
  });

  it('survives a 5 MB single line, deep nesting and unicode noise', () => {
    const random = seededRandom(7);
    expect(outcomeOf(() => parseWhitelist(longNoise(random, 5 * 1024 * 1024, XML_ALPHABET)), '5 MB line', LARGE_CASE_MS)).toBe('refused');
    const open = '<ListeBlanche xmlns="https://listeblanche.mssante.fr/schema"><Domaine><Nom>';
    const hugeName = `${open}${'a'.repeat(5 * 1024 * 1024)}.fr</Nom></Domaine></ListeBlanche>`;
    expect(outcomeOf(() => parseWhitelist(hugeName), '5 MB domain name', LARGE_CASE_MS)).toBe('refused');
    const oneLine = `<ListeBlanche>${'<Domaine><Nom>same.example.fr</Nom></Domaine>'.repeat(120_000)}</ListeBlanche>`;
    expect(oneLine.length).toBeGreaterThan(5 * 1024 * 1024);
    expect(outcomeOf(() => parseWhitelist(oneLine), '5 MB of domains on one line', LARGE_CASE_MS)).toBe('returned');
    expect(outcomeOf(() => parseWhitelist(randomString(random, 100_000, null)), 'unicode noise')).toBe('refused');
    const depth = 200_000;
    const nested = `<ListeBlanche>${'<Domaine>'.repeat(depth)}<Nom>a.fr</Nom>${'</Domaine>'.repeat(depth)}</ListeBlanche>`;
    outcomeOf(() => parseWhitelist(nested), 'deep nesting', LARGE_CASE_MS);
    const many = `<ListeBlanche>${Array.from({ length: 20_000 }, (_, i) => `<Domaine><Nom>d${i}.example.fr</Nom></Domaine>`).join('')}</ListeBlanche>`;
    expect(parseWhitelist(many)).toHaveLength(20_000);
  });
});

describe('peer export parser fuzzing', () => {
  it('survives random and mutated JSON', () => {
    const random = seededRandom(0xbeef);
    const valid = JSON.stringify({
      format: 'medgate-directory-export',
      version: 1,
      generatedAt: '2025-01-01T00:00:00.000Z',
      gateway: { domain: 'a.medgate.test', filingKey: null, certificate: null },
      entries: [],
    });
    for (let round = 0; round < 300; round++) {
      const input = round % 2 ? randomBytesAsText(random, Math.floor(random() * 2000)) : mutateText(random, valid, '{}[]",:01nulltrue.@ ');
      outcomeOf(() => parseDirectoryExport(input, {}), `export round ${round}`);
    }
  });
});
