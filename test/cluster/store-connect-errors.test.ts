/**
 * Database trouble at start-up in one line: a refused connection, a server that never answers, a
 * wrong password and a database that does not exist each end `medgate` with one line naming the
 * server and the database and saying what to do, a stable code and an exit status of their own
 * (src/errors.ts STORE_CONNECT_FAILURES) — not `internal error` (70), which is left for bugs.
 */
import net from 'node:net';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeGatewayConfig, type CliResult } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const pgInfo = testPostgres();
if (!pgInfo) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

/** The one line medgate printed, after checking there is only one and nothing secret or internal in it. */
function oneLine(r: CliResult, secret: string): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  expect(r.stderr).not.toContain(secret);
  return lines[0]!;
}

describe('database trouble at start-up, in one line with its own exit status', () => {
  const dir = tempDir();
  // A short connect timeout keeps the "never answers" case quick; the default is 5 s.
  const config = writeGatewayConfig(dir, { extra: { store: { driver: 'postgres', postgres: { connectTimeoutSeconds: 1 } } } });
  const silent = net.createServer(() => { /* accepts, never says a word */ });
  const held: net.Socket[] = [];
  silent.on('connection', (s) => held.push(s));
  let silentPort = 0;

  beforeAll(async () => {
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a refused connection (a closed port): STORE_CONNECT_REFUSED, exit 69', async () => {
    const port = await freePort(); // nothing listens there
    const r = await runCli(['user', 'list', '--config', config], { env: { MEDGATE_DATABASE_URL: `postgres://medgate:s3cret-pw@127.0.0.1:${port}/medgate` } });
    expect(r.code, r.stderr).toBe(69);
    expect(oneLine(r, 's3cret-pw')).toBe(`medgate: PostgreSQL at 127.0.0.1:${port} refused the connection (nothing listens there) for database "medgate": start the server, or fix the host and port in MEDGATE_DATABASE_URL [STORE_CONNECT_REFUSED]`);
  });

  it('a server that accepts the connection and never answers: STORE_CONNECT_TIMEOUT, exit 75', async () => {
    const started = Date.now();
    const r = await runCli(['init', '--config', config], { env: { MEDGATE_DATABASE_URL: `postgres://medgate:s3cret-pw@127.0.0.1:${silentPort}/medgate` } });
    expect(r.code, r.stderr).toBe(75);
    expect(oneLine(r, 's3cret-pw')).toBe(`medgate: PostgreSQL at 127.0.0.1:${silentPort} did not answer within 1 s (database "medgate"): check that the server is up and that no firewall drops the port; store.postgres.connectTimeoutSeconds sets the wait [STORE_CONNECT_TIMEOUT]`);
    expect(held.length).toBeGreaterThan(0); // it did connect: the silence, not a refusal, is what timed out
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 40_000);

  describe.skipIf(!pgInfo)('on the test PostgreSQL', () => {
    let database: Awaited<ReturnType<typeof createTestDatabase>>;
    beforeAll(async () => { database = await createTestDatabase('connerr'); });
    afterAll(async () => { await database?.drop(); });

    it('a wrong password: STORE_AUTH_FAILED, exit 77, for serve and for store wait (which does not wait for it)', async () => {
      const bad = database.url.replace(/:\/\/([^:]+):[^@]+@/, '://$1:Wr0ng-pw@');
      const r = await runCli(['serve', '--config', config], { env: { MEDGATE_DATABASE_URL: bad } });
      expect(r.code, r.stderr).toBe(77);
      expect(oneLine(r, 'Wr0ng-pw')).toBe(`medgate: PostgreSQL at 127.0.0.1:${pgInfo!.port} refused user "postgres" for database "${database.name}" (wrong password, or no such user): fix the user and password in MEDGATE_DATABASE_URL [STORE_AUTH_FAILED]`);
      const wait = await runCli(['store', 'wait', '--timeout', '30', '--config', config], { env: { MEDGATE_DATABASE_URL: bad } });
      expect(wait.code, wait.stderr).toBe(77);
      expect(oneLine(wait, 'Wr0ng-pw')).toMatch(/\[STORE_AUTH_FAILED\]$/);
    });

    it('a database that does not exist: STORE_DATABASE_MISSING, exit 78', async () => {
      const missing = database.url.replace(/\/[^/]+$/, '/no_such_db');
      const r = await runCli(['user', 'list', '--config', config], { env: { MEDGATE_DATABASE_URL: missing } });
      expect(r.code, r.stderr).toBe(78);
      expect(oneLine(r, pgInfo!.password)).toBe(`medgate: database "no_such_db" does not exist on PostgreSQL at 127.0.0.1:${pgInfo!.port}: create it (createdb -h 127.0.0.1 -p ${pgInfo!.port} -U postgres no_such_db) or fix the name in MEDGATE_DATABASE_URL [STORE_DATABASE_MISSING]`);
    });

    it('a good URL still works (the same config and command)', async () => {
      const r = await runCli(['user', 'list', '--config', config], { env: { MEDGATE_DATABASE_URL: database.url } });
      expect(r.code, r.stderr).toBe(0);
    });
  });
});
