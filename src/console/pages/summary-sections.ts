/** The sections of a summary (antécédents, allergies, traitement en cours…), read from its text for the record page. */
const SUMMARY_SECTIONS: ReadonlyArray<[string, RegExp]> = [
  ['Antécédents', /^(antécédents?|atcd)\b[^:]*:?\s*(.*)$/iu],
  ['Allergies et intolérances', /^(allergies?|intolérances?)\b[^:]*:?\s*(.*)$/iu],
  ['Traitement en cours', /^(traitements?|médicaments?)\s+(en cours|au long cours|habituels?|de fond|actuels?)\s*:?\s*(.*)$/iu],
  ['Vaccinations', /^(vaccinations?|vaccins?)\b[^:]*:?\s*(.*)$/iu],
  ['Facteurs de risque', /^facteurs de risque\b[^:]*:?\s*(.*)$/iu],
];

/** A summary's sections, in its own order: a line opening a section ("Allergies : pénicilline"), then its lines. */
export function summarySections(text: string): Array<{ title: string; lines: string[] }> {
  const out: Array<{ title: string; lines: string[] }> = [];
  let current: { title: string; lines: string[] } | undefined;
  for (const raw of text.split(/\r?\n/).slice(0, 400)) {
    const line = raw.trim();
    if (!line) continue;
    const hit = SUMMARY_SECTIONS.map(([title, re]) => ({ title, m: re.exec(line) })).find((x) => x.m);
    if (hit) {
      const rest = (hit.m!.at(-1) ?? '').trim();
      current = out.find((s) => s.title === hit.title) ?? { title: hit.title, lines: [] };
      if (!out.includes(current)) out.push(current);
      if (rest) current.lines.push(rest.slice(0, 300));
    } else if (current && current.lines.length < 40) current.lines.push(line.slice(0, 300));
  }
  return out;
}
