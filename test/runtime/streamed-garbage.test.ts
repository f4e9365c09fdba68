import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/gateway.js';

/**
 * noteStreamed (src/runtime/streamed-garbage.ts) in a node of its own, as serve starts it: 100 MB
 * streamed as 64 KB chunks that die at once, the highest `arrayBuffers` seen. With --expose-gc the
 * dead chunks are freed every 1 MB in a worker thread (the sealing threads) and every 4 MB on the
 * main thread (every 1 MB there too while the gateway is quiet: collectOftenWhen); without it noteStreamed does nothing and V8 lets them pile up (its own trigger is
 * ~64 MB above the last collection): the same loop is the proof that the bound comes from the
 * collections and not from V8 on its own.
 */
const dir = tempDir('medgate-streamed-garbage-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const loop = path.join(dir, 'loop.mjs');
fs.writeFileSync(loop, `
import { isMainThread, parentPort } from 'node:worker_threads';
const { noteStreamed } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'runtime', 'streamed-garbage.js'))});
let peak = 0;
for (let i = 0; i < 1600; i++) {
  const chunk = Buffer.allocUnsafeSlow(65536);
  chunk[0] = i;
  noteStreamed(chunk.length);
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
}
if (isMainThread) console.log(peak / 2 ** 20); else parentPort.postMessage(peak / 2 ** 20);
`);
// The same loop on the main thread of a quiet gateway (server.ts: no sealing thread running).
const quietLoop = path.join(dir, 'quiet-loop.mjs');
fs.writeFileSync(quietLoop, `
const { collectOftenWhen } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'runtime', 'streamed-garbage.js'))});
collectOftenWhen(() => true);
await import(${JSON.stringify(loop)});
`);
// The loop in a worker thread (which inherits the process's flags); the main thread stays idle.
const inWorker = path.join(dir, 'in-worker.mjs');
fs.writeFileSync(inWorker, `
import { Worker } from 'node:worker_threads';
new Worker(${JSON.stringify(loop)}).on('message', (mb) => console.log(mb));
`);

function peakOf(flags: string[], script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...flags, script], { timeout: 60_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve(Number(stdout.trim()));
    });
  });
}

describe('dead chunks of a streamed message are freed as it streams (--expose-gc)', () => {
  const serveFlags = ['--single-threaded-gc', '--heap-growing-percent=300'];

  it('in a worker thread (sealing): about 1 MB of them at once with the flag, far more without', async () => {
    const withGc = await peakOf([...serveFlags, '--expose-gc'], inWorker);
    const without = await peakOf(serveFlags, inWorker);
    expect(withGc).toBeLessThan(2.5); // 1.1 MB measured; 4.1 MB when it collected every 4 MB
    expect(without).toBeGreaterThan(2 * withGc + 8);
  });

  it('on the main thread: about 4 MB of them at once with the flag, far more without', async () => {
    const withGc = await peakOf([...serveFlags, '--expose-gc'], loop);
    const without = await peakOf(serveFlags, loop);
    expect(withGc).toBeLessThan(6); // 4.1 MB measured
    expect(withGc).toBeGreaterThan(3); // not every 1 MB while the gateway is busy
    expect(without).toBeGreaterThan(2 * withGc + 8);
  });

  it('on the main thread of a quiet gateway: about 1 MB of them at once, as in a worker', async () => {
    const quiet = await peakOf([...serveFlags, '--expose-gc'], quietLoop);
    expect(quiet).toBeLessThan(2.5);
  });
});
