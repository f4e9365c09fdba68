/**
 * The mapping between the mailbox names clients give and the names stored (src/mailbox/folder-names.ts):
 * a function of the name and the account's key alone, keeping the hierarchy, with every part a
 * person typed replaced by a keyed pseudonym, and shown back from what the metadata cache holds.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cacheKeysOf, displayMailboxName, isNameToken, isShown, namePartsOf, storedMailboxName, type NameKey } from '../../src/mailbox/folder-names.js';

/** The same keyed pseudonym as MetaKey.pseudonym, under a fresh random key. */
function nameKey(): NameKey {
  const secret = randomBytes(32);
  return { pseudonym: (value: string) => createHmac('sha256', secret).update(value).digest('base64url').slice(0, 22) };
}

/** What LIST shows for `display` once it is stored: the cache filled as storedNameForNew fills it. */
function roundTrip(key: NameKey, display: string): string {
  const cache = new Map(namePartsOf(key, display).map((p) => [p.cacheKey, p.display]));
  return displayMailboxName(storedMailboxName(key, display), (k) => cache.get(k));
}

describe('mailbox names at rest', () => {
  it('stores every typed part as a keyed pseudonym and keeps the hierarchy', () => {
    const key = nameKey();
    const stored = storedMailboxName(key, 'DUPONT Jean/Bilan 2026');
    expect(stored).not.toMatch(/DUPONT|Jean|Bilan|2026/);
    const [parent, child] = stored.split('/');
    expect(isNameToken(parent!)).toBe(true);
    expect(isNameToken(child!)).toBe(true);
    // The parent's stored name is the stored parent: RENAME and \HasChildren work on stored names.
    expect(storedMailboxName(key, 'DUPONT Jean')).toBe(parent);
    // The same name, the same stored name (any session, any node); another key, another one.
    expect(storedMailboxName(key, 'DUPONT Jean/Bilan 2026')).toBe(stored);
    expect(storedMailboxName(nameKey(), 'DUPONT Jean/Bilan 2026')).not.toBe(stored);
    // Unicode forms of one name are one name.
    expect(storedMailboxName(key, 'Cafe\u0301')).toBe(storedMailboxName(key, 'Caf\u00e9'));
  });

  it('keeps the standard folders and the Patients root as they are, under them too', () => {
    const key = nameKey();
    for (const name of ['INBOX', 'Sent', 'Drafts', 'Trash', 'Junk', 'Patients']) expect(storedMailboxName(key, name)).toBe(name);
    const underInbox = storedMailboxName(key, 'INBOX/Labo MARTIN').split('/');
    expect(underInbox[0]).toBe('INBOX');
    expect(isNameToken(underInbox[1]!)).toBe(true);
    // A folder merely named like a standard one below the top is a typed name like any other.
    expect(isNameToken(storedMailboxName(key, 'Archives/Sent').split('/')[1]!)).toBe(true);
  });

  it('stores a patient folder as the automatic filing does, and its subfolders part by part', () => {
    const key = nameKey();
    const stored = storedMailboxName(key, 'Patients/DUPONT Jean (1959-01-30)');
    expect(stored).toBe(`Patients/~${key.pseudonym('DUPONT Jean (1959-01-30)')}`);
    expect(namePartsOf(key, 'Patients/DUPONT Jean (1959-01-30)')).toEqual([{ cacheKey: `mbx:${stored}`, display: 'DUPONT Jean (1959-01-30)' }]);
    const child = storedMailboxName(key, 'Patients/DUPONT Jean (1959-01-30)/Bilans');
    expect(child.startsWith(`${stored}/~`)).toBe(true);
    expect(namePartsOf(key, 'Patients/DUPONT Jean (1959-01-30)/Bilans').map((p) => p.cacheKey)).toEqual([`mbx:${stored}`, `mbx:${child.split('/')[2]}`]);
  });

  it('shows back the names as typed, and a part the cache does not know as stored', () => {
    const key = nameKey();
    for (const name of ['Oncologie', 'DUPONT Jean/Bilan 2026/Biologie', 'INBOX/Labo', 'Patients/MARTIN Léa (2001-02-03)', 'Patients/MARTIN Léa (2001-02-03)/Bilans', 'Sent', 'Noël/été']) {
      expect(roundTrip(key, name)).toBe(name);
    }
    const stored = storedMailboxName(key, 'A/B');
    expect(displayMailboxName(stored, () => undefined)).toBe(stored);
    expect(cacheKeysOf(stored)).toEqual(stored.split('/').map((p) => `mbx:${p}`));
    expect(cacheKeysOf('INBOX')).toEqual([]);
  });

  it('tells whether the cache can show every part of a stored name', () => {
    const key = nameKey();
    const display = 'Cardio/2024';
    const stored = storedMailboxName(key, display);
    const cache = new Map(namePartsOf(key, display).map((p) => [p.cacheKey, p.display]));
    expect(isShown(stored, cache)).toBe(true);
    expect(isShown(stored, new Map([...cache].slice(0, 1)))).toBe(false);
    expect(isShown('Cardio/2024', new Map())).toBe(true); // stored as typed: nothing to look up
  });
});
