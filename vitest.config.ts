import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL cluster for the whole run (test/setup/postgres.ts).
    globalSetup: ['test/setup/postgres.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Crypto-heavy suites: two cores, keep the pool small so timings stay sane.
    pool: 'forks',
    maxWorkers: 2,
  },
});
