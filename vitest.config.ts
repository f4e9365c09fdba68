import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Node line check, then ONE PostgreSQL cluster for the whole run (test/setup/).
    globalSetup: ['test/setup/node-version.ts', 'test/setup/postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Crypto-heavy suites: two cores, keep the pool small so timings stay sane.
    pool: 'forks',
    maxWorkers: 2,
  },
});
