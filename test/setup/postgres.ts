/**
 * vitest global setup: ONE throw-away PostgreSQL cluster for the whole run (each test file makes
 * its own database on it). Its address reaches the test workers through MEDGATE_TEST_PG. Without
 * PostgreSQL the PostgreSQL half of the suite is skipped with a loud banner, and
 * MEDGATE_REQUIRE_POSTGRES=1 (set by .ci/run) turns that into a failure.
 */
import { PG_NOT_FOUND_BANNER, PgCluster, locatePostgres } from '../helpers/postgres.js';

export default async function setup(): Promise<() => Promise<void>> {
  const found = locatePostgres();
  if (!found.ok) {
    const line = '!'.repeat(100);
    process.stderr.write(`\n${line}\n!!! ${PG_NOT_FOUND_BANNER}\n!!! ${found.reason}\n${line}\n\n`);
    if (process.env['MEDGATE_REQUIRE_POSTGRES'] === '1') throw new Error(`MEDGATE_REQUIRE_POSTGRES=1 but ${PG_NOT_FOUND_BANNER}`);
    return async () => {};
  }
  const cluster = await PgCluster.start(found.bin);
  process.env['MEDGATE_TEST_PG'] = JSON.stringify({ port: cluster.port, password: cluster.password, bin: cluster.bin, dir: cluster.dir });
  return async () => { await cluster.destroy(); };
}
