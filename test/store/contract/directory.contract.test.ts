import { expect, it } from 'vitest';
import type { Account, DirectoryEntry } from '../../../src/store/types.js';
import { contract } from './stores.js';

function entry(address: string, over: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    address, mailboxType: 'PER', idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017',
    civility: 'DR', familyName: 'DEMO', givenName: 'Paul', professionCode: '10', professionLabel: 'Médecin',
    specialtyCode: 'SM54', specialtyLabel: 'Médecine générale', organisation: 'Cabinet', status: 'active',
    certificatePem: null, pgpPublicKey: null, source: 'ans', updatedAt: new Date().toISOString(), ...over,
  };
}

function account(address: string): Account {
  return {
    address, kind: 'person', disabled: false, wrappedPgpKey: 'w', recoveryWrappedPgpKey: 'r', pgpPublicKey: 'p', pgpFingerprint: 'f',
    certificatePem: 'c', wrappedCertKey: 'k', passwordVerifier: 'v', custodyWrappedPgpKey: null, wrappedMetaKey: null,
    createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

contract('directory, whitelist, accounts, settings', (h) => {
  it('migrations are idempotent and a newer schema is refused', async () => {
    const { store } = h();
    const v = await store.migrate();
    expect(v).toBeGreaterThanOrEqual(1);
    expect(await store.migrate()).toBe(v);
    await h().exec("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'future', 'x')");
    await expect(store.migrate()).rejects.toMatchObject({ code: 'STORE_SCHEMA_TOO_NEW' });
  });

  it('upsert reports inserted / unchanged / updated, ignoring only the timestamp', async () => {
    const { store } = h();
    expect(await store.directory.upsert(entry('A@X.test'))).toBe('inserted');
    expect(await store.directory.upsert(entry('a@x.test', { updatedAt: '2030-01-01T00:00:00Z' }))).toBe('unchanged');
    expect(await store.directory.upsert(entry('a@x.test', { specialtyCode: 'SM04' }))).toBe('updated');
    expect(await store.directory.upsert(entry('a@x.test', { specialtyCode: 'SM04', certificatePem: 'PEM' }))).toBe('updated');
    expect((await store.directory.get('A@x.TEST'))).toMatchObject({ specialtyCode: 'SM04', certificatePem: 'PEM', mailboxType: 'PER' });
    expect((await store.directory.findByIdentifier('810100000017')).map((e) => e.address)).toEqual(['a@x.test']);
    expect((await store.directory.findByIdentifier('10100000017')).map((e) => e.address)).toEqual(['a@x.test']);
    await store.directory.upsert(entry('b@x.test', { source: 'local' }));
    expect(await store.directory.list({ domain: 'x.test' })).toHaveLength(2);
    expect((await store.directory.list({ source: 'local' })).map((e) => e.address)).toEqual(['b@x.test']);
    expect(await store.directory.list({ domain: 'y.test' })).toHaveLength(0);
    expect(await store.directory.setStatus('a@x.test', 'revoked')).toBe(true);
    expect((await store.directory.get('a@x.test'))?.status).toBe('revoked');
    expect(await store.directory.setStatus('nobody@x.test', 'revoked')).toBe(false);
  });

  it('replaces the whitelist and counts what changed', async () => {
    const { store } = h();
    expect(await store.directory.replaceWhitelist(['a.test', 'B.test'])).toEqual({ added: 2, removed: 0, kept: 0 });
    expect(await store.directory.replaceWhitelist(['b.test', 'c.test'])).toEqual({ added: 1, removed: 1, kept: 1 });
    expect(await store.directory.isWhitelisted('B.TEST')).toBe(true);
    expect(await store.directory.isWhitelisted('a.test')).toBe(false);
    expect(await store.directory.listWhitelist()).toEqual(['b.test', 'c.test']);
  });

  it('creates, lists and updates accounts', async () => {
    const { store } = h();
    await store.accounts.create(account('Doc@X.test'));
    await store.accounts.create(account('app@x.test'));
    expect((await store.accounts.get('doc@x.TEST'))).toMatchObject({ address: 'doc@x.test', disabled: false, custodyWrappedPgpKey: null });
    expect((await store.accounts.list()).map((a) => a.address)).toEqual(['app@x.test', 'doc@x.test']);
    expect(await store.accounts.update('doc@x.test', { disabled: true, wrappedMetaKey: 'meta' })).toBe(true);
    expect(await store.accounts.get('doc@x.test')).toMatchObject({ disabled: true, wrappedMetaKey: 'meta' });
    expect(await store.accounts.update('nobody@x.test', { disabled: true })).toBe(false);
    expect(await store.accounts.update('doc@x.test', {})).toBe(false);
    await expect(store.accounts.create(account('doc@x.test'))).rejects.toBeDefined();
  });

  it('sets an account key once: of two first logins racing on two nodes, both get the key written first', async () => {
    const { store } = h();
    const other = await h().another();
    await store.accounts.create(account('racer@x.test'));
    const winners = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).accounts.initWrappedMetaKey('racer@x.test', `key-${i}`)));
    expect(new Set(winners).size).toBe(1);
    expect(winners[0]).toMatch(/^key-\d$/);
    // Read on either node (PostgreSQL's read cache included), and a later try changes nothing.
    expect((await store.accounts.get('racer@x.test'))?.wrappedMetaKey).toBe(winners[0]);
    expect(await other.accounts.initWrappedMetaKey('racer@x.test', 'late')).toBe(winners[0]);
    expect((await other.accounts.get('racer@x.test'))?.wrappedMetaKey).toBe(winners[0]);
    expect(await store.accounts.initWrappedMetaKey('nobody@x.test', 'k')).toBeUndefined();
  });

  it('replaces an account key only if it is still the one read: of two logins signing it on two nodes, one writes', async () => {
    const { store } = h();
    const other = await h().another();
    await store.accounts.create(account('signer@x.test'));
    expect(await store.accounts.initWrappedMetaKey('signer@x.test', 'unsigned')).toBe('unsigned');
    // The other node's read cache (PostgreSQL) holds the key before it is replaced.
    expect((await other.accounts.get('signer@x.test'))?.wrappedMetaKey).toBe('unsigned');
    const won = await Promise.all([store, other, store, other].map((s, i) => s.accounts.replaceWrappedMetaKey('signer@x.test', 'unsigned', `signed-${i}`)));
    expect(won.filter(Boolean)).toHaveLength(1);
    const kept = `signed-${won.indexOf(true)}`;
    expect((await store.accounts.get('signer@x.test'))?.wrappedMetaKey).toBe(kept);
    expect((await other.accounts.get('signer@x.test'))?.wrappedMetaKey).toBe(kept);
    expect(await other.accounts.replaceWrappedMetaKey('signer@x.test', 'unsigned', 'late')).toBe(false);
    expect(await store.accounts.replaceWrappedMetaKey('nobody@x.test', 'unsigned', 'k')).toBe(false);
  });

  it('keeps settings', async () => {
    const { store } = h();
    await store.settings.set('k', 'v1');
    await store.settings.set('k', 'v2');
    expect(await store.settings.get('k')).toBe('v2');
    expect(await (await h().another()).settings.get('k')).toBe('v2');
    expect(await store.settings.get('missing')).toBeUndefined();
  });
});
