/**
 * Mailbox names at rest. A folder's name is the doctor's own words, and doctors name folders after
 * patients and conditions ("DUPONT Jean", "Oncologie/Mme MARTIN"): no name a person chose is stored
 * in clear. Each part of such a name is stored as `~` and a pseudonym keyed by the account's metadata
 * key; the part as typed is kept in the metadata cache, encrypted under that key, for LIST to show.
 *
 * The mapping from the name a client gives to the stored one is a function of the name and the
 * key alone: every session, on every node, finds the same mailbox without reading anything, and a
 * stored name keeps its hierarchy (`~a/~b` is a child of `~a`), so RENAME, DELETE, \HasChildren and
 * subscriptions work on stored names as they did on clear ones.
 *
 * Stored as typed: the standard top-level folders (INBOX, Sent, Drafts, Trash, Junk) and the
 * `Patients` root, which name nobody. A patient folder (`Patients/NOM Prénom (date)`) is stored as
 * the automatic filing always stored it, `Patients/~` and the pseudonym of the patient's name.
 */
import type { MailRepo } from '../store/types.js';
import type { MetaKey } from './meta-key.js';
import { PATIENTS_ROOT, folderNameKey } from './patient-folders.js';

/** What the mapping needs of the metadata key: its keyed pseudonym. */
export type NameKey = Pick<MetaKey, 'pseudonym'>;

const CLEAR_TOP_LEVEL = new Set(['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', PATIENTS_ROOT]);

/** A stored name part standing for a part the user typed: `~` and a 22-character keyed pseudonym. */
const TOKEN = /^~[A-Za-z0-9_-]{22}$/;

export function isNameToken(part: string): boolean {
  return TOKEN.test(part);
}

function tokenFor(key: NameKey, part: string): string {
  return `~${key.pseudonym(part.normalize('NFC'))}`;
}

/** The stored name of the mailbox a client names `display` (canonical): each typed part pseudonymised. */
export function storedMailboxName(key: NameKey, display: string): string {
  return display
    .split('/')
    .map((part, i) => (part === '' || (i === 0 && CLEAR_TOP_LEVEL.has(part)) ? part : tokenFor(key, part)))
    .join('/');
}

/**
 * The cache key of a stored part: the part itself, except a patient folder's (the first below
 * `Patients`), kept under its whole stored name as the automatic filing always wrote it.
 */
function cacheKeyOf(storedParts: string[], i: number): string {
  return folderNameKey(i === 1 && storedParts[0] === PATIENTS_ROOT ? `${PATIENTS_ROOT}/${storedParts[1]}` : storedParts[i]!);
}

/** One entry of the metadata cache that shows a stored part: its cache key and what it stands for. */
export interface NamePart {
  cacheKey: string;
  display: string;
}

/**
 * What storing `display` as `storedMailboxName(key, display)` writes to the metadata cache: each
 * pseudonymised part with the text it stands for.
 */
export function namePartsOf(key: NameKey, display: string): NamePart[] {
  const parts = display.split('/');
  const stored = storedMailboxName(key, display).split('/');
  return parts.flatMap((part, i) => (isNameToken(stored[i]!) ? [{ cacheKey: cacheKeyOf(stored, i), display: part }] : []));
}

/**
 * The name a client sees for `stored`, each pseudonymised part shown by `shown` (the metadata cache:
 * undefined when it does not know it, and the part is then shown as stored).
 */
export function displayMailboxName(stored: string, shown: (cacheKey: string) => string | undefined): string {
  const parts = stored.split('/');
  return parts.map((part, i) => (isNameToken(part) ? (shown(cacheKeyOf(parts, i)) ?? part) : part)).join('/');
}

/**
 * Whether `display` is what the part cached under `cacheKey` stands for: its pseudonym is in the key.
 * A folder name's entry proves itself so, whatever wrote it (an entry of version 1, written by a
 * node of the previous version during a rolling upgrade, is not bound to its place otherwise).
 */
export function standsFor(key: NameKey, cacheKey: string, display: string): boolean {
  return cacheKey.endsWith(tokenFor(key, display));
}

/** The cache keys `displayMailboxName(stored)` asks for. */
export function cacheKeysOf(stored: string): string[] {
  const keys: string[] = [];
  displayMailboxName(stored, (cacheKey) => { keys.push(cacheKey); return undefined; });
  return keys;
}

/**
 * Makes `display` storable: what each of its pseudonymised parts stands for is written to the
 * metadata cache (encrypted under the account key) unless `known` (what this account's entries
 * hold, kept by the caller) has it already. Returns the stored name. Before a CREATE, a RENAME's
 * target or a first filing under a patient, so that LIST shows the name as typed.
 */
export async function recordFolderName(
  mail: Pick<MailRepo, 'putMeta'>, key: MetaKey, owner: string, display: string, known: Map<string, string> = new Map(),
): Promise<string> {
  for (const part of namePartsOf(key, display)) {
    if (known.get(part.cacheKey) === part.display) continue;
    await mail.putMeta(owner, part.cacheKey, key.encrypt(part.display, part.cacheKey));
    known.set(part.cacheKey, part.display);
  }
  return storedMailboxName(key, display);
}

/** Whether every pseudonymised part of `stored` is known to `known` (what the metadata cache holds). */
export function isShown(stored: string, known: ReadonlyMap<string, string>): boolean {
  return cacheKeysOf(stored).every((cacheKey) => known.has(cacheKey));
}
