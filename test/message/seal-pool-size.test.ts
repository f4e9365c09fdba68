/**
 * Sealing threads sized to the load (issue 31): none at rest, started as work arrives up to
 * maxThreads, ended after idleTimeoutMs without work; a number gives the fixed, warm pool.
 */
import * as openpgp from 'openpgp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../helpers/until.js';
import type * as PoolModule from '../../src/message/worker/seal-pool.js';

// The built pool: its worker threads load dist/message/worker/seal-worker.js (no TypeScript loader in a worker).
const { SealPool, sealPoolSize } = (await import(new URL('../../dist/message/worker/seal-pool.js', import.meta.url).href)) as typeof PoolModule;
type SealPool = PoolModule.SealPool;

let key: openpgp.PrivateKey;
beforeAll(async () => {
  ({ privateKey: key } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'pool@medgate.test' }], format: 'object' }));
});
/** A real task that fails fast: opening bytes that are not a sealed message runs in a thread and answers not ok. */
const openGarbage = (pool: SealPool) => pool.open({ sealed: Buffer.from('not a sealed message'), key, ownAddress: 'pool@medgate.test', knownFingerprint: null, signer: null });

const pools: SealPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('sealing pool size', () => {
  it('defaults: no thread at rest, at most one per core, 30 s idle; a number is a fixed pool', () => {
    const d = sealPoolSize();
    expect(d.minThreads).toBe(0);
    expect(d.maxThreads).toBeGreaterThanOrEqual(1);
    expect(d.idleTimeoutMs).toBe(30_000);
    expect(sealPoolSize(3)).toEqual({ minThreads: 3, maxThreads: 3, idleTimeoutMs: 30_000 });
    expect(sealPoolSize({ minThreads: 9, maxThreads: 2 })).toMatchObject({ minThreads: 2, maxThreads: 2 });
  });

  it('starts threads with the work (up to maxThreads) and ends them once idle', async () => {
    const pool = new SealPool({ minThreads: 0, maxThreads: 2, idleTimeoutMs: 500 });
    pools.push(pool);
    expect(pool.threads).toBe(0);
    const results = await Promise.all(Array.from({ length: 6 }, () => openGarbage(pool)));
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(pool.threads).toBeGreaterThanOrEqual(1);
    expect(pool.threads).toBeLessThanOrEqual(2);
    expect(await until(() => pool.threads === 0, 15_000)).toBe(true);
    // And again when work comes back.
    await openGarbage(pool);
    expect(pool.threads).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a fixed pool keeps its threads while idle', async () => {
    const pool = new SealPool({ minThreads: 1, maxThreads: 1, idleTimeoutMs: 200 });
    pools.push(pool);
    await openGarbage(pool);
    await new Promise((r) => setTimeout(r, 800));
    expect(pool.threads).toBe(1);
  }, 60_000);
});
