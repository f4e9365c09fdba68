/**
 * A sealing pool closed while its workers still load their module must close, not abort the
 * process. On Node 20.19+ piscina loads the worker with require(); a worker terminated inside that
 * synchronous load used to end the whole process with a V8 fatal error (it ended a CI run: a
 * gateway whose listener could not start closes its pool at once). The sweep runs in a child
 * process, so the abort it looks for cannot take this test runner with it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const POOL = fileURLToPath(new URL('../../dist/message/worker/seal-pool.js', import.meta.url));

// First how long this machine takes for a pool's workers to answer, then pools closed at delays
// across that window: the abort needs the close to land inside the workers' module instantiation,
// a few milliseconds wide. Without the fix, the first aborts came at 0.42-0.58 of the load time
// (four runs here), so the sweep covers 0.40-0.62 of it in steps of 4 ms, or of a twenty-fifth of
// that span where loading is slow, each delay jittered within its step so that repeated runs cover
// it all. With the fix a close waits for the load, so each delay costs a whole load: a loaded
// machine took 2 s to load, and the former 3 ms steps over 0.25-0.9 then ran past two minutes, the
// later 0.35-0.75 sweep hit its 40 s budget; hence the narrower span (same 4 ms density where the
// aborts were seen), visited from the middle outwards, and a 20 s budget on the sweep (stretched
// to close at least eleven pools on a machine that loads very slowly).
const SWEEP = `
const { SealPool } = await import(${JSON.stringify(POOL)});
const openpgp = await import('openpgp');
const { privateKey: key } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'pool@medgate.test' }], format: 'object' });
const t0 = performance.now();
const warm = new SealPool(2);
// A real task that fails fast in each thread: opening bytes that are not a sealed message.
await Promise.all([0, 1, 2, 3].map(() => warm.open({ sealed: Buffer.from('x'), key, ownAddress: 'pool@medgate.test', knownFingerprint: null, signer: null })));
const loaded = performance.now() - t0;
await warm.close();
let closed = 0;
const lo = Math.floor(loaded * 0.40);
const hi = Math.ceil(loaded * 0.62);
const step = Math.max(4, Math.ceil((hi - lo) / 25));
const delays = [];
for (let d = lo; d <= hi; d += step) delays.push(d);
// From the middle of the span outwards: a sweep cut by its budget has covered where aborts were seen.
delays.sort((x, y) => Math.abs(x - loaded / 2) - Math.abs(y - loaded / 2));
const started = performance.now();
for (const d of delays) {
  const spent = performance.now() - started;
  // 20 s, or more where loading is so slow that 20 s would not even close eleven pools (80 s at most).
  if (spent > 80_000 || (spent > 20_000 && closed > 10)) break;
  const pool = new SealPool(2);
  await new Promise((r) => setTimeout(r, d + Math.floor(Math.random() * step)));
  await pool.close();
  closed++;
}
console.log(JSON.stringify({ loaded: Math.round(loaded), step, closed }));
`;

describe('sealing pool', () => {
  it('closed at any point while its workers load, closes cleanly (no V8 abort)', async () => {
    // Without the suite's compile cache (test/setup/compile-cache.ts): the workers compile their
    // module as a gateway's do, so the load window swept is the one where the aborts were seen.
    const env = { ...process.env };
    delete env['NODE_COMPILE_CACHE'];
    const child = spawn(process.execPath, ['--input-type=module', '-e', SWEEP], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect(err).not.toMatch(/FATAL ERROR/);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { loaded: number; step: number; closed: number };
    expect(result.closed).toBeGreaterThan(10);
    expect(result.loaded).toBeGreaterThan(0);
  }, 150_000);
});
