/**
 * Builds ANS extraction files for tests, row values given BY COLUMN NAME so that the same rows can
 * be written under every header variant (order, suffixes, accents, line endings).
 */

/** The 32 columns of the current version, in file order (DOMAIN.md). */
export const ANS_COLUMNS = [
  'Type de BAL', 'Adresse BAL', 'Type Identifiant PP', 'Identifiant PP', 'Identification nationale PP',
  'Type identifiant structure', 'Identification Structure', 'Service de rattachement', "Civilité d'exercice",
  "Nom d'exercice", "Prénom d'exercice", 'Catégorie profession', 'Libellé catégorie de profession',
  'Code profession', 'Libellé profession', 'Code savoir-faire', 'Libellé savoir-faire', 'Dématérialisation',
  'Raison sociale structure BAL', 'Enseigne commerciale structure BAL', 'Complément destinataire',
  'Complément point géographique', 'Numéro de voie', 'Indice répétition voie', 'Code type de voie',
  'Type de voie', 'Libellé voie', 'Mention distribution', 'Lieu-dit / Bureau cedex', 'Code postal',
  'Département', 'Pays',
] as const;

/** Postal-address columns that some versions suffix with ` structure BAL`. */
export const ADDRESS_COLUMNS = ANS_COLUMNS.slice(20);

export type AnsRow = Partial<Record<(typeof ANS_COLUMNS)[number], string>>;

export interface AnsFileOptions {
  /** Header names in file order; each maps back to a canonical name for the row values. */
  header?: Array<{ written: string; canonical: string | null }>;
  eol?: '\n' | '\r\n';
  bom?: boolean;
  trailingNewline?: boolean;
}

export function canonicalHeader(): Array<{ written: string; canonical: string | null }> {
  return ANS_COLUMNS.map((name) => ({ written: name, canonical: name }));
}

export function buildAnsFile(rows: AnsRow[], opts: AnsFileOptions = {}): string {
  const header = opts.header ?? canonicalHeader();
  const eol = opts.eol ?? '\n';
  const lines = [header.map((h) => h.written).join('|')];
  for (const row of rows) {
    lines.push(header.map((h) => (h.canonical === null ? 'x' : (row as Record<string, string | undefined>)[h.canonical] ?? '')).join('|'));
  }
  return (opts.bom ? '\uFEFF' : '') + lines.join(eol) + (opts.trailingNewline === false ? '' : eol);
}

/** A valid doctor row (RPPS), with overrides. */
export function doctorRow(overrides: AnsRow = {}): AnsRow {
  return {
    'Type de BAL': 'PER',
    'Adresse BAL': 'Jean.Test@cabinet.medgate.test',
    'Type Identifiant PP': '8',
    'Identifiant PP': '10100000017',
    'Identification nationale PP': '810100000017',
    "Civilité d'exercice": 'DR',
    "Nom d'exercice": 'TEST',
    "Prénom d'exercice": 'Jean',
    'Code profession': '10',
    'Libellé profession': 'Médecin',
    'Code savoir-faire': 'SM54',
    'Libellé savoir-faire': 'Médecine générale',
    'Raison sociale structure BAL': 'Cabinet de test',
    'Code postal': '92160',
    Pays: 'France',
    ...overrides,
  };
}

/** A valid organisation row (FINESS-shaped structure identifier), with overrides. */
export function organisationRow(overrides: AnsRow = {}): AnsRow {
  return {
    'Type de BAL': 'ORG',
    'Adresse BAL': 'secretariat@cabinet.medgate.test',
    'Type identifiant structure': '1',
    'Identification Structure': '920000000',
    'Service de rattachement': 'Secrétariat',
    'Raison sociale structure BAL': 'Cabinet de test',
    ...overrides,
  };
}

/** Mulberry32: small seeded PRNG so that fuzz failures are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
