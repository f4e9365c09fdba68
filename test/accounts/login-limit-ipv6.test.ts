/**
 * Issue 27 follow-up: failed-login counters key on the client as the connection caps do
 * (src/net/address-key.ts): an IPv4 address by itself, an IPv6 address by its /64. A sprayer that
 * rotates its source inside one /64 (privacy addresses, a routed /64) is slowed and refused as one
 * client; a neighbour in another /64 is not. At the service level, on each store (the counts live in
 * the store's LoginFailureRepo): IPv6 loopback is a single address, so a socket test could not
 * rotate inside a /64.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { prepareGatewayData, type PreparedGateway } from '../helpers/in-process-gateway.js';
import { AuthLimiter } from '../../dist/imap/auth-limiter.js';
import { LoginLimiter } from '../../dist/smtp/submission/login-limiter.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const ACCOUNTS = Array.from({ length: 4 }, (_, i) => `logiciel${i}@${DOMAIN}`);
const PASSWORD = 'correct horse battery';
const LIMITS = { maxFailuresPerAddress: 4, windowSeconds: 900, slowAfterFailures: 1, delayMs: 20, maxDelayMs: 40 };

/** A fresh address inside 2001:db8:aa:bb::/64 at each call, as a rotating sprayer would use. */
let host = 0;
const rotating = (): string => `2001:db8:aa:bb:${(++host).toString(16)}:${(host * 7).toString(16)}:0:${(host * 13).toString(16)}`;

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try { await p; return 'ok'; } catch (err) { return (err as { code?: string }).code ?? String(err); }
};

describeOnStores('failed-login counters key an IPv6 client by its /64', (store) => {
  let g: PreparedGateway;
  beforeAll(async () => {
    g = await prepareGatewayData({
      store, domain: DOMAIN, directory: false, whitelist: false,
      extra: { security: { kdfMemoryExponent: 10, minPasswordLength: 12, loginLimits: LIMITS } },
      accounts: ACCOUNTS.map((address) => ({ address, kind: 'application' as const, password: PASSWORD })),
    });
  }, 120_000);
  afterAll(async () => { await g?.dispose(); });

  it('a password sprayed from rotating addresses of one /64 is refused as from one address', async () => {
    const spray = (account: string): Promise<string> => codeOf(g.ctx.accounts.unlock(account, 'Printemps2026!', { via: 'imap', remote: rotating() }));
    // Each attempt from an address never seen before: only the /64 ties them together.
    const answers: string[] = [];
    for (const account of ACCOUNTS) answers.push(await spray(account));
    expect(answers.every((c) => c !== 'ok' && c !== 'LOGIN_RATE_LIMITED')).toBe(true);
    // The limit is reached for the /64: a new address inside it is refused before the password
    // is looked at, the right password included.
    expect(await codeOf(g.ctx.accounts.unlock(ACCOUNTS[0]!, PASSWORD, { via: 'imap', remote: rotating() }))).toBe('LOGIN_RATE_LIMITED');
    // The same account from another /64, and from an IPv4 client, still logs in.
    expect(await codeOf(g.ctx.accounts.unlock(ACCOUNTS[0]!, PASSWORD, { via: 'imap', remote: '2001:db8:aa:bc::1' }))).toBe('ok');
    expect(await codeOf(g.ctx.accounts.unlock(ACCOUNTS[0]!, PASSWORD, { via: 'imap', remote: '192.0.2.10' }))).toBe('ok');
    // The refusals are audited per /64, the exact address kept in each record's details.
    const refused = (await g.ctx.store.audit.list(0, 100_000)).filter((r) => r.action === 'auth.login' && r.outcome === 'refused');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.some((r) => JSON.stringify(r.details).includes('2001:db8:aa:bb:'))).toBe(true);
  }, 60_000);

  it('the IMAP per-(account, address) limit counts a /64 as one address too', async () => {
    const limiter = new AuthLimiter(g.ctx.store.loginFailures, 3, 60_000);
    const user = `dr.rotation.${store}@${DOMAIN}`;
    for (let i = 0; i < 3; i++) {
      expect(await limiter.isBlocked(user, rotating())).toBe(false);
      await limiter.recordFailure(user, rotating());
    }
    expect(await limiter.isBlocked(user, rotating())).toBe(true);
    // Another /64 and the IPv4-mapped form of an IPv4 client are other clients.
    expect(await limiter.isBlocked(user, '2001:db8:aa:bc::1')).toBe(false);
    await limiter.recordFailure(user, '::ffff:192.0.2.20');
    expect(await limiter.isBlocked(user, '192.0.2.21')).toBe(false);
    // A success from inside the /64 clears its count.
    await limiter.recordSuccess(user, rotating());
    expect(await limiter.isBlocked(user, rotating())).toBe(false);
  });

  it('the SMTP per-(account, address) limit counts a /64 as one address too', async () => {
    const limiter = new LoginLimiter(g.ctx.store.loginFailures, 3, 60_000);
    const user = `dr.smtp.rotation.${store}@${DOMAIN}`;
    for (let i = 0; i < 3; i++) {
      expect(await limiter.isBlocked(user, rotating())).toBe(false);
      await limiter.recordFailure(user, rotating());
    }
    expect(await limiter.isBlocked(user, rotating())).toBe(true);
    expect(await limiter.isBlocked(user, '2001:db8:aa:bc::1')).toBe(false);
  });
});
