import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/gateway.js';

/**
 * noteStreamed (src/runtime/streamed-garbage.ts) in a node of its own, as serve starts it: 100 MB
 * streamed as 64 KB chunks that die at once, the highest `arrayBuffers` seen. With --expose-gc the
 * dead chunks are freed every 1 MB; without it noteStreamed does nothing and V8 lets them pile up
 * (its own trigger is ~64 MB above the last collection): the same loop is the proof that the bound
 * comes from the collections and not from V8 on its own.
 */
const SCRIPT = `
const { noteStreamed } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'runtime', 'streamed-garbage.js'))});
let peak = 0;
for (let i = 0; i < 1600; i++) {
  const chunk = Buffer.allocUnsafeSlow(65536);
  chunk[0] = i;
  noteStreamed(chunk.length);
  peak = Math.max(peak, process.memoryUsage().arrayBuffers);
}
console.log(JSON.stringify({ peakMb: peak / 2 ** 20 }));
`;

function peakOf(flags: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...flags, '--input-type=module', '-e', SCRIPT], { timeout: 60_000 }, (err, stdout) => {
      if (err) return reject(err);
      resolve((JSON.parse(stdout) as { peakMb: number }).peakMb);
    });
  });
}

describe('dead chunks of a streamed message are freed as it streams (--expose-gc)', () => {
  it('100 MB of 64 KB chunks: at most a few MB of them at once with the flag, far more without', async () => {
    const serveFlags = ['--single-threaded-gc', '--heap-growing-percent=300'];
    const withGc = await peakOf([...serveFlags, '--expose-gc']);
    const without = await peakOf(serveFlags);
    expect(withGc).toBeLessThan(2.5); // 1.1 MB measured; 4.1 MB when it collected every 4 MB
    expect(without).toBeGreaterThan(2 * withGc + 8);
  });
});
