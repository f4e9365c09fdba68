import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { DirectoryEntry } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';

function entry(address: string, over: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    address, mailboxType: 'PER', idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017',
    civility: 'DR', familyName: 'DEMO', givenName: 'Paul', professionCode: '10', professionLabel: 'Médecin',
    specialtyCode: 'SM54', specialtyLabel: 'Médecine générale', organisation: 'Cabinet', status: 'active',
    certificatePem: null, pgpPublicKey: null, source: 'ans', updatedAt: new Date().toISOString(), ...over,
  };
}

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

  it('refuses a database from a newer medgate', async () => {
    store.db.prepare("INSERT INTO schema_migrations VALUES (999, 'future', 'x')").run();
    await expect(store.migrate()).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' });
  });

  it('upsert reports inserted / unchanged / updated, ignoring only the timestamp', async () => {
    expect(await store.directory.upsert(entry('A@X.test'))).toBe('inserted');
    expect(await store.directory.upsert(entry('a@x.test', { updatedAt: '2030-01-01T00:00:00Z' }))).toBe('unchanged');
    expect(await store.directory.upsert(entry('a@x.test', { specialtyCode: 'SM04' }))).toBe('updated');
    expect((await store.directory.get('A@x.TEST'))?.specialtyCode).toBe('SM04');
    expect((await store.directory.findByIdentifier('810100000017')).map((e) => e.address)).toEqual(['a@x.test']);
    expect(await store.directory.list({ domain: 'x.test' })).toHaveLength(1);
    expect(await store.directory.list({ domain: 'y.test' })).toHaveLength(0);
    expect(await store.directory.setStatus('a@x.test', 'revoked')).toBe(true);
    expect((await store.directory.get('a@x.test'))?.status).toBe('revoked');
    expect(await store.directory.setStatus('nobody@x.test', 'revoked')).toBe(false);
  });

  it('replaces the whitelist and counts what changed', async () => {
    expect(await store.directory.replaceWhitelist(['a.test', 'B.test'])).toEqual({ added: 2, removed: 0, kept: 0 });
    expect(await store.directory.replaceWhitelist(['b.test', 'c.test'])).toEqual({ added: 1, removed: 1, kept: 1 });
    expect(await store.directory.isWhitelisted('B.TEST')).toBe(true);
    expect(await store.directory.isWhitelisted('a.test')).toBe(false);
    expect(await store.directory.listWhitelist()).toEqual(['b.test', 'c.test']);
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
