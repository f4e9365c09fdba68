import * as openpgp from 'openpgp';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MetaKey } from '../../src/mailbox/meta-key.js';
import { OpenAccounts } from '../../src/mailbox/open-accounts.js';

/**
 * What an account's IMAP sessions share (decrypted messages, the metadata key) lives exactly as long
 * as the login cache keeps its key: while a session is open, then `lingerMs`, then it is gone.
 */
describe('OpenAccounts: the shared state of an account\'s sessions', () => {
  let key: openpgp.PrivateKey;
  let other: openpgp.PrivateKey;
  const metaKey = {} as MetaKey;
  beforeAll(async () => {
    key = (await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'a@x.test' }], format: 'object' })).privateKey;
    other = (await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'a@x.test' }], format: 'object' })).privateKey;
  });
  afterEach(() => { vi.useRealTimers(); });

  const opened = (text: string) => ({ bytes: Buffer.from(text), routing: null, facts: { v: 2 as const, prefix: '', size: text.length, fingerprint: null, error: null, patientFolder: null } });

  it('sessions of one account share one state and one metadata-key unwrap; it lingers, then is wiped', async () => {
    vi.useFakeTimers();
    const accounts = new OpenAccounts(60_000);
    const load = vi.fn(async () => metaKey);
    const [a, b] = await Promise.all([accounts.acquire('a@x.test', key, load), accounts.acquire('a@x.test', key, load)]);
    expect(a).toBe(b);
    expect(load).toHaveBeenCalledTimes(1);
    a.remember('blob1', opened('hello'));
    accounts.release(a);
    expect(accounts.size).toBe(1); // b still open
    accounts.release(b);
    vi.advanceTimersByTime(59_000);
    const c = await accounts.acquire('a@x.test', key, load); // back within the linger: same state, no unwrap
    expect(c).toBe(a);
    expect(c.getOpened('blob1')?.bytes.toString()).toBe('hello');
    accounts.release(c);
    vi.advanceTimersByTime(60_001);
    expect(accounts.size).toBe(0);
    expect(c.getOpened('blob1')).toBeUndefined(); // wiped, not just forgotten
    const d = await accounts.acquire('a@x.test', key, load);
    expect(d).not.toBe(a);
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('with no linger the state goes with the last session; another key for the address starts afresh', async () => {
    const accounts = new OpenAccounts(0);
    const load = async (): Promise<MetaKey> => metaKey;
    const a = await accounts.acquire('a@x.test', key, load);
    a.remember('blob1', opened('secret'));
    accounts.release(a);
    expect(accounts.size).toBe(0);
    expect(a.getOpened('blob1')).toBeUndefined();
    const b = await accounts.acquire('a@x.test', key, load);
    const rekeyed = await accounts.acquire('a@x.test', other, load);
    expect(rekeyed).not.toBe(b);
    expect(rekeyed.getOpened('blob1')).toBeUndefined();
  });

  it('keeps at most 64 MiB of decrypted messages, the least recently used going first', async () => {
    const shared = await new OpenAccounts(0).acquire('a@x.test', key, async () => metaKey);
    const big = (tag: string) => ({ ...opened(tag), bytes: Buffer.alloc(20 * 1024 * 1024, tag) });
    for (const id of ['1', '2', '3']) shared.remember(id, big(id));
    expect(shared.getOpened('1')).toBeDefined();
    shared.remember('4', big('4')); // 80 MiB: the oldest goes
    expect(shared.getOpened('1')).toBeUndefined();
    expect(['2', '3', '4'].every((id) => shared.getOpened(id))).toBe(true);
  });
});
