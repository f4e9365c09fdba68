/**
 * HPRIM lab result text: 12-line patient header, free text, optional `****LAB****` block of
 * pipe-separated RES lines ending at `****FIN****`; a file with several patients repeats
 * header…`****FIN****` and ends with `****FINFICHIER****` (DOMAIN.md).
 *
 * Detection is deliberately strict so that an ordinary letter is not read as HPRIM: lines 2 and 3
 * must be names, line 7 a real (plausible) birth date and line 10 a real date. Variants accepted:
 * one title line before line 1, blank lines before the header, anything (or an empty line) as line 13.
 */
import { isPlausibleBirthDate, parseFrenchDate } from './dates.js';
import { compactMatricule, isValidMatricule } from './ins.js';
import { isPlausibleName } from './names.js';
import type { PatientIdentity } from './types.js';

export interface HprimLabResult {
  label: string;
  code: string;
  value: string;
  unit: string;
  low: string;
  high: string;
  flag: string;
}

export interface HprimSection {
  patient: PatientIdentity;
  /** Line 10: date of the lab file, YYYY-MM-DD. */
  fileDate: string;
  /** Line 11: the sending lab's code (first word) and name, as written; the author it claims. */
  sender?: { code: string; name: string };
  hasLabBlock: boolean;
  results: HprimLabResult[];
}

export interface HprimDocument {
  /** 'body' or the attachment's name. */
  part: string;
  sections: HprimSection[];
  hasLabBlock: boolean;
  /** More than one patient section in the same file. */
  multiPatient: boolean;
  /** Sections after the first that carried text but no readable header. */
  unreadableSections: number;
  /** `****FINFICHIER****` was seen. */
  complete: boolean;
}

const LAB_START = '****LAB****';
const SECTION_END = '****FIN****';
const FILE_END = '****FINFICHIER****';

export function parseHprim(text: string, part: string, now?: Date): HprimDocument | undefined {
  const lines = text.split(/\r\n|\r|\n/);
  const segments: string[][] = [];
  let current: string[] = [];
  let complete = false;
  for (const line of lines) {
    const marker = line.trim().toUpperCase();
    if (marker === FILE_END) {
      complete = true;
      break;
    }
    if (marker === SECTION_END) {
      current.push(line);
      segments.push(current);
      current = [];
    } else current.push(line);
  }
  if (current.some((l) => l.trim() !== '')) segments.push(current);

  const doc: HprimDocument = { part, sections: [], hasLabBlock: false, multiPatient: false, unreadableSections: 0, complete };
  for (const [i, seg] of segments.entries()) {
    const section = parseSection(seg, now);
    if (section) doc.sections.push(section);
    else if (i === 0) return undefined; // the first section decides whether this is HPRIM at all
    else if (seg.some((l) => l.trim() !== '' && l.trim().toUpperCase() !== SECTION_END)) doc.unreadableSections++;
  }
  doc.hasLabBlock = doc.sections.some((s) => s.hasLabBlock);
  doc.multiPatient = doc.sections.length > 1;
  return doc;
}

function parseSection(lines: string[], now?: Date): HprimSection | undefined {
  let start = 0;
  while (start < lines.length && (lines[start] ?? '').trim() === '') start++;
  // Header at the top, or after one title line.
  const header = readHeader(lines.slice(start, start + 12), now) ?? readHeader(lines.slice(start + 1, start + 13), now);
  if (!header) return undefined;
  const section: HprimSection = { ...header, hasLabBlock: false, results: [] };
  const labAt = lines.findIndex((l) => l.trim().toUpperCase() === LAB_START);
  if (labAt >= 0) {
    section.hasLabBlock = true;
    for (const line of lines.slice(labAt + 1)) {
      if (line.trim().toUpperCase() === SECTION_END) break;
      const result = parseResLine(line);
      if (result) section.results.push(result);
    }
  }
  return section;
}

function readHeader(h: string[], now?: Date): Pick<HprimSection, 'patient' | 'fileDate' | 'sender'> | undefined {
  if (h.length < 12) return undefined;
  const f = h.map((l) => l.trim());
  const [code, family, given, , , , birth, nirLine, , fileDateText] = f;
  if ((code ?? '').length > 20) return undefined;
  if (!isPlausibleName(family ?? '') || !isPlausibleName(given ?? '')) return undefined;
  const birthDate = parseFrenchDate(birth ?? '');
  const fileDate = parseFrenchDate(fileDateText ?? '');
  if (!birthDate || !fileDate || !isPlausibleBirthDate(birthDate, now) || birthDate > fileDate) return undefined;
  if ((nirLine ?? '').length > 30) return undefined;
  const patient: PatientIdentity = { source: 'hprim', familyName: family ?? '', givenName: given ?? '', birthDate };
  const nir = compactMatricule(nirLine ?? '');
  // Line 8 may hold the insured person's number, not the patient's: kept as `nir`, never as INS.
  if (nir && isValidMatricule(nir)) patient.nir = nir;
  const senderLine = (f[10] ?? '').slice(0, 120);
  const sm = /^(\S{1,20})\s*(.*)$/.exec(senderLine);
  return { patient, fileDate, ...(sm ? { sender: { code: sm[1]!, name: sm[2]!.trim() } } : {}) };
}

function parseResLine(line: string): HprimLabResult | undefined {
  const f = line.split('|');
  if ((f[0] ?? '').trim().toUpperCase() !== 'RES') return undefined;
  const at = (i: number): string => (f[i] ?? '').trim();
  return { label: at(1), code: at(2), value: at(4), unit: at(5), low: at(6), high: at(7), flag: at(8) };
}
