import { describe, expect, it } from 'vitest';
import { summarySections } from '../../src/message/classify/summary-sections.js';

/**
 * The sections of a résumé shown on top of a shared record (src/console/pages/record.ts): every
 * item the doctor wrote under a heading, and not his signature.
 */
describe('summary sections', () => {
  it('items separated by blank lines stay in their section (an allergy after a blank line is not dropped)', () => {
    const text = [
      'Résumé médical', '',
      'Allergies : pénicilline', '', 'latex', '', 'iode', '',
      'Traitement en cours :', '- Kardegic 75 mg', '', '- Ramipril 5 mg', '',
      'Vaccinations : à jour',
    ].join('\r\n');
    expect(summarySections(text)).toEqual([
      { title: 'Allergies et intolérances', lines: ['pénicilline', 'latex', 'iode'] },
      { title: expect.any(String), lines: ['- Kardegic 75 mg', '- Ramipril 5 mg'] },
      { title: expect.any(String), lines: ['à jour'] },
    ]);
  });

  it('the signature after a blank line is no part of the last section', () => {
    for (const signature of [['Dr Paul Demo', 'Médecin généraliste'], ['Bien confraternellement,', 'Paul Demo'], ['--', 'Dr Paul DEMO, 12 rue de la Paix']]) {
      const text = ['Antécédents : HTA', 'Vaccinations : DTP 2020', '', 'grippe 2025', '', ...signature].join('\n');
      const sections = summarySections(text);
      expect(sections.at(-1)!.lines).toEqual(['DTP 2020', 'grippe 2025']);
      expect(sections.flatMap((s) => s.lines).join(' ')).not.toMatch(/Paul|Médecin/);
    }
  });
});
