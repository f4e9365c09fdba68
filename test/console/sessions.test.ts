/** Console sessions: inactivity expiry, absolute lifetime, logout, one account's sessions ended together. */
import { describe, expect, it } from 'vitest';
import { SessionStore } from '../../src/console/sessions.js';

describe('console session store', () => {
  it('expires a session after inactivity, not while it is used, and at the latest after its maximum life', () => {
    const store = new SessionStore(15 * 60_000, 12 * 3_600_000);
    const s = store.create('paul@x.test', 'password', 0);
    expect(store.touch(s.id, 14 * 60_000)?.doctor).toBe('paul@x.test');
    expect(store.touch(s.id, 28 * 60_000)?.doctor).toBe('paul@x.test'); // 14 min after the last request
    expect(store.touch(s.id, 44 * 60_000)).toBeUndefined(); // 16 min idle
    expect(store.touch(s.id, 45 * 60_000)).toBeUndefined(); // gone for good
    const busy = store.create('paul@x.test', 'password', 0);
    let t = 0;
    for (; t < 12 * 3_600_000; t += 10 * 60_000) expect(store.touch(busy.id, t)).toBeDefined();
    expect(store.touch(busy.id, t + 1)).toBeUndefined();
  });

  it('logout ends one session; endAll ends every session of an account; ids are unguessable', () => {
    const store = new SessionStore(60_000, 3_600_000);
    const a = store.create('a@x.test', 'password');
    const b = store.create('a@x.test', 'certificate');
    const c = store.create('c@x.test', 'password');
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    store.end(a.id);
    expect(store.touch(a.id)).toBeUndefined();
    expect(store.touch(b.id)).toBeDefined();
    store.endAll('a@x.test');
    expect(store.touch(b.id)).toBeUndefined();
    expect(store.touch(c.id)).toBeDefined();
    expect(store.touch(undefined)).toBeUndefined();
  });
});
