import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './test/setup/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Node line check, the compile cache of the processes tests start, then ONE PostgreSQL
    // cluster for the whole run (test/setup/).
    globalSetup: ['test/setup/node-version.ts', 'test/setup/compile-cache.ts', 'test/setup/postgres.ts'],
    // Longest files first from a committed table (test/setup/sequencer.ts): a fresh clone has no
    // vitest results cache, and the slowest files would otherwise start last.
    sequence: { sequencer: LongestFirstSequencer },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Crypto-heavy suites on two cores. Three workers, not two: many files wait on sockets, child
    // processes and timers, and with two a
    // run used 113 % of the 200 % (under other load); with three, 172 % on a quiet machine.
    pool: 'forks',
    maxWorkers: 3,
    // The built gateway (dist/) that tests import is loaded by Node itself, not transformed again by
    // vite for every test file: it is plain JavaScript already, and transforming it cost 10–35 s of
    // import time per file that builds a gateway in-process.
    server: { deps: { external: [/\/dist\//] } },
  },
});
