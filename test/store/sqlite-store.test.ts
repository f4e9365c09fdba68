import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

/** What only SQLite has (WAL, the file); the behaviour every store shares is in contract/. */
describe('SQLite store', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = tempDir();
    store = SqliteStore.open(path.join(dir, 'db', 'm.db'));
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs in WAL mode with full sync, and migrations are idempotent', async () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    const latest = Math.max(...MIGRATIONS.map((m) => m.version));
    expect(latest).toBeGreaterThanOrEqual(5);
    expect(await store.migrate()).toBe(latest);
    expect(await store.migrate()).toBe(latest);
    const applied = store.db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number };
    expect(applied.n).toBe(MIGRATIONS.length);
  });

  it('keeps settings and survives a reopen (committed data is durable)', async () => {
    await store.settings.set('k', 'v1');
    await store.settings.set('k', 'v2');
    await store.close();
    const again = SqliteStore.open(path.join(dir, 'db', 'm.db'));
    expect(await again.settings.get('k')).toBe('v2');
    expect(await again.settings.get('missing')).toBeUndefined();
    store = again;
  });
});
