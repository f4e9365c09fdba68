import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/gateway.js';

const run = promisify(execFile);

// Operator commands run at once on one SQLite file (two imports, an account added while the gateway
// serves): each read-then-write transaction takes the write lock first. A deferred one that read
// before another process wrote failed at once with "database is locked" (SQLITE_BUSY on a stale
// snapshot, which busy_timeout cannot wait out) — seen in test/e2e/file-modes.
it('four processes replacing the whitelist on one SQLite file at once: none gets "database is locked"', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'medgate.db');
    const script = `
      import { SqliteStore } from ${JSON.stringify(path.join(ROOT, 'dist/store/sqlite/sqlite-store.js'))};
      const store = SqliteStore.open(process.argv[1]);
      await store.migrate();
      const me = Number(process.argv[2]);
      for (let i = 0; i < 150; i++) await store.directory.replaceWhitelist(['a.test', 'p' + me + '-' + (i % 3) + '.test']);
      await store.close();
      console.log('done');`;
    // The schema first, so the four race on the data, not on the migration (which has its own lock).
    await run(process.execPath, ['--input-type=module', '-e', script, file, '9']);
    const outs = await Promise.all([0, 1, 2, 3].map((n) => run(process.execPath, ['--input-type=module', '-e', script, file, String(n)])));
    expect(outs.map((o) => o.stdout.trim())).toEqual(['done', 'done', 'done', 'done']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
