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
// across that window, in 3 ms steps: the abort needs the close to land inside the workers' module
// instantiation, a few milliseconds wide.
const SWEEP = `
const { SealPool } = await import(${JSON.stringify(POOL)});
const t0 = performance.now();
const warm = new SealPool(2);
await Promise.all([0, 1, 2, 3].map(() => warm.unwrapKey('not armored', 'x').catch(() => undefined)));
const loaded = performance.now() - t0;
await warm.close();
let closed = 0;
for (let d = Math.floor(loaded * 0.25); d <= Math.ceil(loaded * 0.9); d += 3) {
  const pool = new SealPool(2);
  await new Promise((r) => setTimeout(r, d));
  await pool.close();
  closed++;
}
console.log(JSON.stringify({ loaded: Math.round(loaded), closed }));
`;

describe('sealing pool', () => {
  it('closed at any point while its workers load, closes cleanly (no V8 abort)', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SWEEP], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect(err).not.toMatch(/FATAL ERROR/);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const result = JSON.parse(out.trim().split('\n').pop()!) as { loaded: number; closed: number };
    expect(result.closed).toBeGreaterThan(10);
    expect(result.loaded).toBeGreaterThan(0);
  }, 120_000);
});
