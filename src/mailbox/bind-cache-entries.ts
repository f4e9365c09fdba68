import type { MailRepo } from '../store/types.js';

/** What binding needs of the account key: read an entry as it was, write it bound to its place. */
export interface CacheEntryCipher {
  decryptUnbound<T>(text: string): T | undefined;
  encrypt(value: unknown, cacheKey: string): string;
}

const PAGE = 500;

/**
 * Rewrites an account's cache entries of version 1 (not bound to their place) as entries bound to
 * the message or folder they are stored under (MetaKey.encrypt), a page at a time, each only if
 * nothing rewrote it meanwhile. Done once, before the account key is signed: from then on an entry
 * of version 1 does not open, so one moved from another message cannot lend it its verdict.
 * Entries that do not open are left as they are (they are recomputed when needed). Returns how
 * many were rewritten.
 */
export async function bindCacheEntries(mail: Pick<MailRepo, 'listMeta' | 'replaceMeta'>, key: CacheEntryCipher, owner: string): Promise<number> {
  let after = '';
  let rewritten = 0;
  for (;;) {
    const page = await mail.listMeta(owner, after, PAGE);
    if (page.length === 0) return rewritten;
    after = page[page.length - 1]!.key;
    const changes: Array<{ key: string; expected: string; data: string }> = [];
    for (const entry of page) {
      if (!entry.data.startsWith('v1.')) continue;
      const value = key.decryptUnbound<unknown>(entry.data);
      if (value !== undefined) changes.push({ key: entry.key, expected: entry.data, data: key.encrypt(value, entry.key) });
    }
    if (changes.length) rewritten += await mail.replaceMeta(owner, changes);
    if (page.length < PAGE) return rewritten;
  }
}
