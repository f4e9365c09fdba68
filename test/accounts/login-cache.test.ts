import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { accountsFixture, PASSWORD, provesKeyWorks, type AccountsFixture } from './account-fixture.js';

// Counts the scrypt verifier checks (the first half of the full login path) while running the real one.
const scryptChecks = vi.hoisted(() => ({ n: 0 }));
vi.mock('../../src/crypto/keys.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/crypto/keys.js')>();
  return {
    ...real,
    checkPasswordVerifier: async (password: string, verifier: string) => {
      scryptChecks.n++;
      return real.checkPasswordVerifier(password, verifier);
    },
  };
});

const unlockKinds = async (f: AccountsFixture, address: string): Promise<string[]> =>
  (await f.loginRecords(address)).map((r) => `${r.outcome}:${String(r.details.unlock ?? r.details.reason)}`);

describe('login cache (AccountService.unlock)', () => {
  let f: AccountsFixture;
  beforeEach(async () => { f = await accountsFixture(); scryptChecks.n = 0; });
  afterEach(async () => { await f.close(); });

  it('a second login with the same password reuses the key: no scrypt, no Argon2, and the key works', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service();
    const first = await accounts.unlock(address, PASSWORD, { via: 'smtp' });
    const [checks, unwraps] = [scryptChecks.n, f.unwraps()];
    const second = await accounts.unlock(address, PASSWORD, { via: 'imap-login' });

    expect([checks, unwraps]).toEqual([1, 1]);
    expect([scryptChecks.n, f.unwraps()]).toEqual([1, 1]);
    // (The work is counted, not timed: timings are flaky on a shared machine.)
    expect(second.account.address).toBe(address);
    await provesKeyWorks(second.pgpKey, first.account.pgpPublicKey);
    expect(await unlockKinds(f, address)).toEqual(['ok:full', 'ok:cached']);
    const records = await f.loginRecords(address);
    expect(records[1]!.details.via).toBe('imap-login');
    expect(JSON.stringify(records)).not.toContain(PASSWORD);
  });

  it('a wrong password after a cached login still fails through the full scrypt check, and does not evict the owner', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service();
    await accounts.unlock(address, PASSWORD);
    await accounts.unlock(address, PASSWORD);
    expect(scryptChecks.n).toBe(1);

    await expect(accounts.unlock(address, PASSWORD + 'x')).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    await expect(accounts.unlock(address, '')).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    expect(scryptChecks.n).toBe(3); // each wrong guess paid the verifier, as without a cache
    await accounts.unlock(address, PASSWORD);
    expect([scryptChecks.n, f.unwraps()]).toEqual([3, 1]);
    expect(await unlockKinds(f, address)).toEqual(['ok:full', 'ok:cached', 'refused:wrong-password', 'refused:wrong-password', 'ok:cached']);
  });

  it('a password change evicts: the old password fails, the new one takes the full path — also when changed by another process', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service();
    await accounts.unlock(address, PASSWORD);
    await accounts.changePassword(address, { currentPassword: PASSWORD }, 'a brand new password');
    await expect(accounts.unlock(address, PASSWORD)).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    const before = f.unwraps();
    const unlocked = await accounts.unlock(address, 'a brand new password');
    expect(f.unwraps()).toBe(before + 1);
    await provesKeyWorks(unlocked.pgpKey, unlocked.account.pgpPublicKey);

    // The CLI (`medgate user passwd`) runs in its own process: this service's cache only sees the row change.
    const cli = f.service();
    await cli.changePassword(address, { currentPassword: 'a brand new password' }, 'third password here');
    await expect(accounts.unlock(address, 'a brand new password')).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    await accounts.unlock(address, 'third password here');
    expect(await unlockKinds(f, address)).toEqual(['ok:full', 'refused:wrong-password', 'ok:full', 'refused:wrong-password', 'ok:full']);
  });

  it('disabling evicts and refuses, here and from another process; enabling again needs a full unlock', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service();
    await accounts.unlock(address, PASSWORD);
    await accounts.setDisabled(address, true);
    await expect(accounts.unlock(address, PASSWORD)).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    await accounts.setDisabled(address, false);
    await accounts.unlock(address, PASSWORD);
    expect(f.unwraps()).toBe(2);

    await f.service().setDisabled(address, true); // the CLI's own AccountService
    await expect(accounts.unlock(address, PASSWORD)).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    await f.service().setDisabled(address, false);
    await accounts.unlock(address, PASSWORD);
    expect(f.unwraps()).toBe(3); // the disabled row dropped the entry: no reuse after re-enabling
    expect(await unlockKinds(f, address)).toEqual(['ok:full', 'refused:account-disabled', 'ok:full', 'refused:account-disabled', 'ok:full']);
  });

  it('a session holding the key keeps it past ttlSeconds; the TTL counts from the end of the last hold', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service({ ttlSeconds: 0, maxEntries: 10 });
    const first = await accounts.unlock(address, PASSWORD, { via: 'imap-login', hold: true });
    f.advance(3_600_000);
    const second = await accounts.unlock(address, PASSWORD, { via: 'imap-login', hold: true });
    expect(f.unwraps()).toBe(1); // an hour later, but a session still holds it
    first.release!();
    await accounts.unlock(address, PASSWORD, { via: 'smtp' });
    expect(f.unwraps()).toBe(1); // the second session still holds it
    second.release!();
    second.release!(); // a second release of the same hold changes nothing
    await accounts.unlock(address, PASSWORD, { via: 'smtp' });
    expect(f.unwraps()).toBe(2); // no hold and ttlSeconds 0: gone
    // A wrong password never rides on a held key.
    const held = await accounts.unlock(address, PASSWORD, { via: 'imap-login', hold: true });
    await expect(accounts.unlock(address, 'not the password at all', { via: 'imap-login' })).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    held.release!();
    const lingering = f.service({ ttlSeconds: 60, maxEntries: 10 });
    const h = await lingering.unlock(address, PASSWORD, { via: 'imap-login', hold: true });
    f.advance(120_000);
    h.release!();
    f.advance(59_000);
    await lingering.unlock(address, PASSWORD, { via: 'smtp' });
    expect(f.unwraps()).toBe(4); // 59 s after the hold ended: still cached
    f.advance(2_000);
    await lingering.unlock(address, PASSWORD, { via: 'smtp' });
    expect(f.unwraps()).toBe(5);
  });

  it('entries expire after ttlSeconds; with ttlSeconds 0 and no session holding it, every login takes the full path', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service({ ttlSeconds: 60, maxEntries: 10 });
    await accounts.unlock(address, PASSWORD);
    f.advance(59_000);
    await accounts.unlock(address, PASSWORD);
    expect(f.unwraps()).toBe(1);
    f.advance(1_000);
    await accounts.unlock(address, PASSWORD);
    expect(f.unwraps()).toBe(2);

    const off = f.service({ ttlSeconds: 0, maxEntries: 10 });
    await off.unlock(address, PASSWORD);
    await off.unlock(address, PASSWORD);
    expect(f.unwraps()).toBe(4);
    // Off keeps no key, but logins arriving together still share the one running unwrap.
    await Promise.all([off.unlock(address, PASSWORD), off.unlock(address, PASSWORD)]);
    expect(f.unwraps()).toBe(5);
    expect(await unlockKinds(f, address)).toEqual(['ok:full', 'ok:cached', 'ok:full', 'ok:full', 'ok:full', 'ok:full', 'ok:joined']);
  });

  it('keeps at most maxEntries accounts, dropping the least recently used', async () => {
    const paul = await f.addAccount('paul.demo', '10100000017');
    const jl = await f.addAccount('jl.letest', '10100000041');
    const accounts = f.service({ ttlSeconds: 600, maxEntries: 1 });
    await accounts.unlock(paul, PASSWORD);
    await accounts.unlock(paul, PASSWORD);
    await accounts.unlock(jl, PASSWORD);
    await accounts.unlock(paul, PASSWORD);
    expect(f.unwraps()).toBe(3);
    expect(await unlockKinds(f, paul)).toEqual(['ok:full', 'ok:cached', 'ok:full']);
  });

  it('simultaneous first logins with the same password share one unwrap; wrong ones in the same burst still fail', async () => {
    const address = await f.addAccount('paul.demo', '10100000017');
    const accounts = f.service();
    const results = await Promise.allSettled([
      ...Array.from({ length: 8 }, () => accounts.unlock(address, PASSWORD)),
      accounts.unlock(address, 'not the password at all'),
    ]);
    expect(f.unwraps()).toBe(1);
    expect(results.slice(0, 8).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[8]).toMatchObject({ status: 'rejected', reason: { code: 'CREDENTIALS_WRONG' } });
    const ok = results[3] as PromiseFulfilledResult<Awaited<ReturnType<typeof accounts.unlock>>>;
    await provesKeyWorks(ok.value.pgpKey, ok.value.account.pgpPublicKey);
    const kinds = await unlockKinds(f, address);
    expect(kinds.filter((k) => k === 'ok:full')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ok:joined')).toHaveLength(7);
    expect(kinds.filter((k) => k === 'refused:wrong-password')).toHaveLength(1);
  });

  it('an unknown account is refused with the same error', async () => {
    await expect(f.service().unlock('nobody@cabinet-test.medgate.test', PASSWORD)).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
    expect(scryptChecks.n).toBe(1);
  });
});
