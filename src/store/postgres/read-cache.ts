/**
 * A node's cache of the rows every message looks up and almost never change: accounts, directory
 * entries, settings and whitelisted domains. On the message path these were 12 of about 22 round
 * trips a message (bench/store.bench.ts, statements counted in the server log); SQLite reads them
 * in process, PostgreSQL pays a round trip each.
 *
 * Correct across nodes, not merely "fresh enough":
 * - a write through a repository drops the key here at once, and tells the other nodes over
 *   LISTEN/NOTIFY (`medgate_cache`), which drop it when the notification arrives (milliseconds);
 * - the cache is only used while this node listens: when the listening connection is lost or
 *   re-opened, every entry is dropped (notifications sent meanwhile are lost), and until it
 *   listens again every read goes to the database;
 * - a read that raced an invalidation (started before, finished after) is not kept;
 * - entries expire after `ttlMs` all the same, the bound on staleness if a writer died between
 *   its commit and its notification.
 */
export type CachedTable = 'accounts' | 'directory' | 'settings' | 'whitelist';

export interface Invalidation {
  table: CachedTable;
  /** Undefined: every key of the table. */
  key?: string | undefined;
}

interface Entry {
  value: unknown;
  at: number;
}

export class ReadCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every invalidation: a load that saw another value of it is not stored. */
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly isLive: () => boolean,
    private readonly publish: (change: Invalidation) => void,
    private readonly ttlMs = 10_000,
    private readonly maxEntries = 10_000,
  ) {}

  /** The cached value of `table`/`key`, or `load()`'s, kept when nothing invalidated it meanwhile. */
  async get<T>(table: CachedTable, key: string, load: () => Promise<T>, copy: (v: T) => T = (v) => v): Promise<T> {
    if (!this.isLive()) return load();
    const id = `${table}\u0000${key}`;
    const hit = this.entries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) {
      this.hits++;
      return copy(hit.value as T);
    }
    this.misses++;
    const generation = this.generation;
    const value = await load();
    if (generation === this.generation && this.isLive()) {
      this.entries.delete(id);
      this.entries.set(id, { value, at: Date.now() });
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
    return copy(value);
  }

  /** A write on this node: dropped here, and the other nodes are told. */
  written(table: CachedTable, key?: string): void {
    this.drop({ table, key });
    this.publish({ table, key });
  }

  /** Another node's write (or a lost notification channel: `all`). */
  drop(change: Invalidation | 'all'): void {
    this.generation++;
    if (change === 'all') { this.entries.clear(); return; }
    if (change.key === undefined) {
      const prefix = `${change.table}\u0000`;
      for (const id of [...this.entries.keys()]) if (id.startsWith(prefix)) this.entries.delete(id);
      return;
    }
    this.entries.delete(`${change.table}\u0000${change.key}`);
  }

  get size(): number {
    return this.entries.size;
  }
}
