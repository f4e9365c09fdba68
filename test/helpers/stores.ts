/** The two stores a behaviour suite runs on, and the one way to write a suite for both. */
import { describe } from 'vitest';
import { PG_NOT_FOUND_BANNER, testPostgres } from './postgres.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

/**
 * One behaviour suite, written once, run on each store: `describe('title [sqlite]')` and
 * `describe('title [postgres]')`. Without PostgreSQL the second is skipped (the run's setup says
 * so loudly; MEDGATE_REQUIRE_POSTGRES=1 in CI makes that a failure before any test runs).
 */
export function describeOnStores(title: string, suite: (store: StoreKind) => void): void {
  for (const kind of STORE_KINDS) describeOn(kind, title, () => suite(kind));
}

/** One store's half only, for what exists on that store alone (PostgreSQL's catalog, SQLite's WAL file); skipped as loudly as describeOnStores. */
export function describeOn(kind: StoreKind, title: string, suite: () => void): void {
  const missing = kind === 'postgres' && !testPostgres();
  // CI sets MEDGATE_REQUIRE_POSTGRES=1: there the PostgreSQL half must run, never be skipped.
  if (missing && process.env['MEDGATE_REQUIRE_POSTGRES'] === '1') throw new Error(`MEDGATE_REQUIRE_POSTGRES=1 but ${PG_NOT_FOUND_BANNER}: ${title} [postgres]`);
  if (missing) console.warn(`!!! ${PG_NOT_FOUND_BANNER}: ${title} [postgres]`);
  describe.skipIf(missing)(`${title} [${kind}]`, suite);
}
