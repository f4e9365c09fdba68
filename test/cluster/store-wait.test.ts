/**
 * `medgate store wait` (the containers' start-up step, docker/entrypoint.sh): it gives up after
 * --timeout with one line, refuses a timeout that is not a number (it would never give up), says
 * SQLite has nothing to wait for, and returns at once when PostgreSQL answers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeGatewayConfig } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pg = testPostgres();
if (!pg) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

describe('medgate store wait', () => {
  const dir = tempDir();
  const config = writeGatewayConfig(dir);
  afterAll(async () => { (await import('node:fs')).rmSync(dir, { recursive: true, force: true }); });

  it('gives up after --timeout on a server that does not answer, in one line naming it', async () => {
    const port = await freePort(); // nothing listens there
    const started = Date.now();
    const r = await runCli(['store', 'wait', '--timeout', '1', '--config', config], { env: { MEDGATE_DATABASE_URL: `postgres://medgate:secret@127.0.0.1:${port}/medgate` } });
    // The exit status of the last failure's kind (refused: 69, src/errors.ts), the code of the give-up.
    expect(r.code).toBe(69);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stderr).toMatch(/^medgate: waiting: .*127\.0\.0\.1/m);
    expect(r.stderr).toMatch(/^medgate: gave up after 1 s: .*\[STORE_WAIT_TIMEOUT\]$/m);
    expect(r.stderr).not.toMatch(/secret|\n\s+at /);
  }, 30_000);

  it('refuses a --timeout that is not a number of seconds', async () => {
    const r = await runCli(['store', 'wait', '--timeout', 'soon', '--config', config], { env: { MEDGATE_DATABASE_URL: 'postgres://medgate@127.0.0.1:1/medgate' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('medgate: --timeout must be a number of seconds, got "soon" [USAGE]');
    // The same refusal on SQLite, where there is nothing to wait for.
    const onSqlite = await runCli(['store', 'wait', '--timeout', 'soon', '--config', config], { env: { MEDGATE_DATABASE_URL: '' } });
    expect(onSqlite.code).toBe(1);
    expect(onSqlite.stderr.trim()).toBe('medgate: --timeout must be a number of seconds, got "soon" [USAGE]');
  });

  it('on SQLite there is nothing to wait for', async () => {
    const r = await runCli(['store', 'wait', '--config', config], { env: { MEDGATE_DATABASE_URL: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('store: SQLite, nothing to wait for');
  });

  it.skipIf(!pg)('returns at once when PostgreSQL answers', async () => {
    const database = await createTestDatabase('wait');
    try {
      const r = await runCli(['store', 'wait', '--timeout', '5', '--config', config], { env: { MEDGATE_DATABASE_URL: database.url } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^store: PostgreSQL at 127\.0\.0\.1:\d+\/wait_[0-9a-f]+ answers$/m);
    } finally {
      await database.drop();
    }
  });
});
