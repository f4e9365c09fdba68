import type { InsIdentifier, InsKind } from './types.js';

/** INS OIDs (DOMAIN.md): qualified NIR, NIA, test NIR, demo. */
export const INS_OIDS: Readonly<Record<string, InsKind>> = {
  '1.2.250.1.213.1.4.8': 'NIR',
  '1.2.250.1.213.1.4.9': 'NIA',
  '1.2.250.1.213.1.4.10': 'test',
  '1.2.250.1.213.1.4.11': 'demo',
};

export const DEFAULT_INS_OID = '1.2.250.1.213.1.4.8';

/**
 * A NIR/NIA matricule: 13 characters (sex, year, month, department — 2A/2B for Corsica — commune,
 * order) plus a 2-digit key = 97 − (number mod 97), Corsica counted as 19 (2A) / 18 (2B).
 */
export function isValidMatricule(value: string): boolean {
  const m = /^([1-478])(\d{4})(\d{2}|2A|2B)(\d{6})(\d{2})$/.exec(value);
  if (!m) return false;
  const dept = m[3] === '2A' ? '19' : m[3] === '2B' ? '18' : (m[3] ?? '');
  const body = BigInt(`${m[1]}${m[2]}${dept}${m[4]}`);
  return 97n - (body % 97n) === BigInt(m[5] ?? '-1');
}

/** Removes the spaces people type inside a NIR (`1 59 01 80 021 219 80`). */
export function compactMatricule(value: string): string {
  return value.replace(/[\s.]/g, '').toUpperCase();
}

/**
 * Reads an HL7 CX identifier `matricule^^^&OID&ISO[^type]`. Without an assigning authority the
 * caller decides (header fields default to the NIR OID). Returns undefined when the OID is not an
 * INS OID or the matricule is not valid.
 */
export function parseInsCx(cx: string, defaultOid?: string): InsIdentifier | undefined {
  const parts = cx.trim().split('^');
  const value = compactMatricule(parts[0] ?? '');
  const authority = parts[3] ?? '';
  const oid = authority ? (authority.split('&')[1] ?? '') : (defaultOid ?? '');
  const kind = INS_OIDS[oid];
  if (!kind || !isValidMatricule(value)) return undefined;
  return { value, oid, kind };
}
