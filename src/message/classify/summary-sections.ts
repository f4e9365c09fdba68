/**
 * The sections of a medical summary (antécédents, allergies et intolérances, traitement en cours,
 * vaccinations, facteurs de risque), defined once: the classifier reads them to recognise a summary
 * laid out in sections, and the record console to show the current summary's sections on top.
 * A line opens a section when it starts with the section's words (accents and case folded, as the
 * keywords are): "Allergies : pénicilline", "ATCD", "Traitement en cours :".
 */
import { normalizeForKeywords } from './keywords.js';

export interface SummarySectionDef {
  /** Stable key (the classifier's reason names it). */
  key: string;
  /** The heading the console shows. */
  title: string;
  /** Matched against normalizeForKeywords(line). */
  opens: RegExp;
}

export const SUMMARY_SECTIONS: readonly SummarySectionDef[] = [
  { key: 'antecedents', title: 'Antécédents', opens: /^ (antecedents?|atcd)\b/ },
  { key: 'allergies', title: 'Allergies et intolérances', opens: /^ (allergies?|intolerances?)\b/ },
  { key: 'traitements', title: 'Traitement en cours', opens: /^ (traitements?|medicaments?) (en cours|au long cours|habituels?|de fond|actuels?)\b/ },
  { key: 'vaccinations', title: 'Vaccinations', opens: /^ (vaccinations?|vaccins?)\b/ },
  { key: 'facteurs de risque', title: 'Facteurs de risque', opens: /^ facteurs de risque\b/ },
];

/** The section a line opens, if any. */
export function summarySectionOf(line: string): SummarySectionDef | undefined {
  const norm = normalizeForKeywords(line.slice(0, 80));
  return SUMMARY_SECTIONS.find((s) => s.opens.test(norm));
}

/**
 * A line that closes a letter or signs it ("Dr Paul Demo", "Cordialement", "--"): after a blank line
 * it ends the summary's last section, and what follows (the signature block) is no part of it.
 */
const SIGN_OFF = /^(--|__|dr\b|docteur\b|pr\b|professeur\b|(bien |tres |tres bien )?(cordialement|confraternellement|amicalement)\b|bien a (vous|toi)\b|(sinceres |meilleures )?salutations\b|merci\b|signe\b|fait a\b)/;

/**
 * A summary's sections, in its own order: a line opening a section, then its lines. What follows the
 * heading's colon on the same line is the section's first line ("Allergies : pénicilline"). A blank
 * line followed by a sign-off or a signature ("Dr Paul Demo", "Cordialement") ends the section:
 * the signature is no part of the last section. Any other blank line does not: items written one
 * paragraph each (a mail client turning each line into a paragraph leaves blank lines between them)
 * stay in their section — an allergy after a blank line was dropped from the summary on top of the
 * record when every blank line ended the section.
 */
export function summarySections(text: string): Array<{ title: string; lines: string[] }> {
  const out: Array<{ title: string; lines: string[] }> = [];
  let current: { title: string; lines: string[] } | undefined;
  let afterBlank = false;
  for (const raw of text.split(/\r?\n/).slice(0, 400)) {
    const line = raw.trim();
    if (!line) {
      afterBlank = true;
      continue;
    }
    const signsOff = afterBlank && SIGN_OFF.test(line.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase());
    afterBlank = false;
    if (signsOff && current?.lines.length) current = undefined;
    const section = summarySectionOf(line);
    if (section) {
      const colon = line.indexOf(':');
      const rest = colon >= 0 ? line.slice(colon + 1).trim() : '';
      current = out.find((s) => s.title === section.title) ?? { title: section.title, lines: [] };
      if (!out.includes(current)) out.push(current);
      if (rest) current.lines.push(rest.slice(0, 300));
    } else if (current && current.lines.length < 40) current.lines.push(line.slice(0, 300));
  }
  return out;
}
