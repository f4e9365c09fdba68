/**
 * Keyed hashes of a patient's identity: what the filing store keeps instead of names. Matching and
 * search compare HMACs computed with the gateway's filing data key, so a stolen database file alone
 * does not reveal names, and hashes cannot be recomputed from a list of names without the key.
 */
import { normalizeName, patientKey } from '../message/identity/index.js';
import type { FilingCipher } from './data-key.js';

export interface FiledIdentity {
  familyName: string;
  givenName: string;
  birthDate: string;
  sex?: string;
  ins?: { value: string; oid: string };
}

/** Longest family-name prefix indexed: longer search terms are cut to it. */
export const MAX_PREFIX = 24;

export interface IdentityHashes {
  insHash: string | null;
  traitsHash: string;
  familyBirthHash: string;
  givenBirthHash: string;
  prefixHashes: string[];
}

export function insHash(cipher: FilingCipher, ins: { value: string; oid: string }): string {
  return cipher.hash('ins', `${ins.value.replace(/\s+/g, '')}^${ins.oid.trim()}`);
}

/** Form used for prefixes: normalised family name (accents, case, hyphens folded). */
export function searchForm(text: string): string {
  return normalizeName(text);
}

export function prefixHash(cipher: FilingCipher, normalisedPrefix: string): string {
  return cipher.hash('prefix', normalisedPrefix);
}

/**
 * Prefixes 1..MAX_PREFIX of the whole normalised family name and of each later word in it, so
 * `DUP` finds `DUPONT-MARTIN` and `MAR` finds it too.
 */
export function familyPrefixes(familyName: string): string[] {
  const whole = searchForm(familyName);
  const starts = [whole, ...whole.split(' ').slice(1)];
  const out = new Set<string>();
  for (const s of starts) for (let n = 1; n <= Math.min(s.length, MAX_PREFIX); n++) out.add(s.slice(0, n));
  return [...out];
}

export function identityHashes(cipher: FilingCipher, p: FiledIdentity): IdentityHashes {
  return {
    insHash: p.ins ? insHash(cipher, p.ins) : null,
    traitsHash: cipher.hash('traits', patientKey(p)),
    familyBirthHash: cipher.hash('family-birth', `${normalizeName(p.familyName)}|${p.birthDate}`),
    givenBirthHash: cipher.hash('given-birth', `${normalizeName(p.givenName)}|${p.birthDate}`),
    prefixHashes: familyPrefixes(p.familyName).map((x) => prefixHash(cipher, x)),
  };
}
