import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAnsExtraction } from '../../src/directory/ans-import.js';
import { professionLabel, PROFESSION_LABELS, roleOf } from '../../src/directory/professions.js';

const SAMPLE = readFileSync(new URL('../../../shared/samples/ans-extraction-mssante.txt', import.meta.url), 'utf8');

function person(professionCode: string | null, specialtyCode: string | null, specialtyLabel: string | null) {
  return { mailboxType: 'PER' as const, professionCode, specialtyCode, specialtyLabel };
}

describe('professions', () => {
  it('labels the profession codes of DOMAIN.md', () => {
    expect(Object.keys(PROFESSION_LABELS).sort()).toEqual(['10', '21', '40', '50', '60', '70', '86', '91', '92']);
    expect(professionLabel('10')).toBe('Médecin');
    expect(professionLabel(' 70 ')).toBe('Masseur-kinésithérapeute');
    expect(professionLabel('86')).toBe('Technicien de laboratoire médical');
    expect(professionLabel('99')).toBeUndefined();
    expect(professionLabel(null)).toBeUndefined();
  });

  it('gives every sample entry its role', () => {
    const roles = Object.fromEntries(parseAnsExtraction(SAMPLE).entries.map((e) => [e.address.split('@')[0], roleOf(e)]));
    expect(roles).toEqual({
      'paul.demo': 'general-practitioner',
      'claire.martin': 'specialist',
      'anne.biologiste': 'biologist',
      'jl.letest': 'general-practitioner',
      'sophie.infirmiere': 'nurse',
      secretariat: 'organisation',
      resultats: 'organisation',
      rmp: 'organisation',
      'marc.radio': 'radiologist',
    });
  });

  it('classifies doctors by specialty code and label', () => {
    expect(roleOf(person('10', 'SM26', 'Qualifié en médecine générale'))).toBe('general-practitioner');
    expect(roleOf(person('10', 'SM54', null))).toBe('general-practitioner');
    expect(roleOf(person('10', 'SM05', 'BIOLOGIE MEDICALE'))).toBe('biologist');
    expect(roleOf(person('10', 'SM99', 'Radiologie'))).toBe('radiologist');
    expect(roleOf(person('10', 'SM99', 'Imagerie médicale'))).toBe('radiologist');
    expect(roleOf(person('10', 'SM99', 'Oncologie option radiothérapie'))).toBe('specialist');
    expect(roleOf(person('10', 'SM04', 'Cardiologie'))).toBe('specialist');
    expect(roleOf(person('10', null, null))).toBe('other-professional');
  });

  it('classifies other professions', () => {
    expect(roleOf(person('21', null, null))).toBe('pharmacist');
    expect(roleOf(person('21', 'SP01', 'Biologie médicale'))).toBe('biologist');
    expect(roleOf(person('60', null, null))).toBe('nurse');
    expect(roleOf(person('86', null, 'Biologie'))).toBe('other-professional');
    expect(roleOf(person('40', null, null))).toBe('other-professional');
    expect(roleOf(person(null, 'SM54', null))).toBe('other-professional');
    expect(roleOf({ mailboxType: 'APP', professionCode: '10', specialtyCode: 'SM54', specialtyLabel: null })).toBe('application');
    expect(roleOf({ mailboxType: 'ORG', professionCode: null, specialtyCode: null, specialtyLabel: null })).toBe('organisation');
  });
});
