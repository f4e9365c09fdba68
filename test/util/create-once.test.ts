import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/gateway.js';

const run = promisify(execFile);

// Eight processes start together on a fresh data directory (a cluster's nodes, or CLI commands
// run at once): each creates the gateway keys if missing and reads them back. Every one must read
// the same whole key, never the empty file another process has opened but not yet written.
it('gateway keys created by processes starting together: all read the same whole key', async () => {
  const dir = tempDir();
  try {
    const script = `
      import { ensureFilingDataKey } from ${JSON.stringify(path.join(ROOT, 'dist/filing/data-key.js'))};
      import { ensureIntakeKey } from ${JSON.stringify(path.join(ROOT, 'dist/crypto/gateway-keys.js'))};
      const [data, intake] = await Promise.all([ensureFilingDataKey(process.argv[1]), ensureIntakeKey(process.argv[1], 'x.test')]);
      console.log(data.toString('hex') + ' ' + intake.fingerprint);`;
    const outs = await Promise.all(Array.from({ length: 8 }, () => run(process.execPath, ['--input-type=module', '-e', script, dir])));
    const lines = new Set(outs.map((o) => o.stdout.trim()));
    expect(lines.size).toBe(1);
    expect([...lines][0]).toMatch(/^[0-9a-f]{64} [0-9A-F]{40}$/);
    expect(fs.readdirSync(path.join(dir, 'keys')).sort()).toEqual(['filing-data.key', 'mssante-intake-key.asc']);
    expect(fs.statSync(path.join(dir, 'keys', 'filing-data.key')).mode & 0o777).toBe(0o600);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
