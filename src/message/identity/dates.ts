/** Date parsing for identity traits: every accepted date is a real calendar date. */

/** Returns YYYY-MM-DD when y/m/d is a real date (31/02 refused), else undefined. */
export function isoDate(year: number, month: number, day: number): string | undefined {
  if (!Number.isInteger(year) || !Number.isInteger(month) || !Number.isInteger(day)) return undefined;
  if (year < 1800 || year > 9999 || month < 1 || month > 12 || day < 1) return undefined;
  const d = new Date(Date.UTC(year, month - 1, day));
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined;
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** `JJ/MM/AAAA`, `JJ-MM-AAAA` or `JJ.MM.AAAA` (one separator used throughout). */
export function parseFrenchDate(text: string): string | undefined {
  const m = /^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$/.exec(text.trim());
  if (!m) return undefined;
  return isoDate(Number(m[4]), Number(m[3]), Number(m[1]));
}

/** `AAAA-MM-JJ`. */
export function parseIsoDate(text: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  return isoDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** HL7 v2 DT/DTM: `AAAAMMJJ`, possibly followed by a time. */
export function parseHl7Date(text: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:\d{0,6}(?:\.\d+)?(?:[+-]\d{4})?)?$/.exec(text.trim());
  if (!m) return undefined;
  return isoDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** A birth date must not be in the future nor absurdly old. */
export function isPlausibleBirthDate(iso: string, now: Date = new Date()): boolean {
  const today = now.toISOString().slice(0, 10);
  return iso >= '1880-01-01' && iso <= today;
}
