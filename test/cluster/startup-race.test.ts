/**
 * Start-up without races: `medgate init` and the nodes started at the same moment on a fresh store
 * each succeed, and the schema, the test CA, the gateway keys and the demo practice are made once.
 * Before the start-up lock, `serve` and `init` both found the account list empty and both created
 * the demo accounts: `duplicate key value violates unique constraint "accounts_pkey"` on one of
 * them, 3 starts in 6 under podman-compose.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../dist/config/load.js';
import { openStore } from '../../dist/store/index.js';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { CLI, runCli, startServe, tempDir, writeGatewayConfig, type CliResult, type ServeProcess } from '../helpers/gateway.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const available = testPostgres();
if (!available) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const DEMO_ADDRESSES = [
  'jl.letest@cabinet-antony.medgate.test', 'lgc@cabinet-antony.medgate.test',
  'paul.demo@cabinet-antony.medgate.test', 'rmp@cabinet-antony.medgate.test',
];
const BANNER = /medgate demo practice ready/g;
const ROUNDS = 5;

/** Starts a serve; resolves to it, or to the reason it did not start (the test then shows it). */
async function tryServe(config: string, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess | Error> {
  try {
    return await startServe(config, 120_000, { file: process.execPath, args: [...SERVE_NODE_FLAGS, CLI], env });
  } catch (err) {
    return err as Error;
  }
}

/** How many processes printed the demo banner: the one that created the demo practice, and no other. */
function banners(init: CliResult, nodes: ServeProcess[]): number {
  return [init.stdout, ...nodes.map((n) => n.stderr.join(''))].reduce((n, text) => n + (text.match(BANNER)?.length ?? 0), 0);
}

/**
 * The rounds run a few at a time, each on its own database or data directory: within a round the
 * processes start together, which is the race; rounds need not wait for each other, and much of a
 * start is waiting (disk, locks, the database). Not all five at once: fifteen starting gateways
 * on two cores would make the start time-outs the thing tested.
 */
const ROUNDS_AT_ONCE = 3;

async function rounds(run: (round: number) => Promise<void>): Promise<void> {
  let next = 1;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next <= ROUNDS) {
      const round = next++;
      try {
        await run(round);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: ROUNDS_AT_ONCE }, worker));
  if (failures.length) throw failures[0];
}

describe('start-up races', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  it.skipIf(!available)(`PostgreSQL: init and two nodes started at the same moment, ${ROUNDS} times on a fresh database: all start, one set of demo accounts`, async () => {
    await rounds(async (round) => {
      const db = await createTestDatabase('race');
      const root = tempDir('medgate-race-pg-');
      roots.push(root);
      const keysDir = path.join(root, 'keys');
      const certs = path.join(keysDir, 'certs');
      // As compose runs them: one database and one keys volume for all, a data directory each.
      const configOf = (name: string): string => {
        const dir = path.join(root, name);
        fs.mkdirSync(dir);
        return writeGatewayConfig(dir, {
          demo: true,
          extra: { keysDir, store: { driver: 'postgres' }, pki: { caDir: certs, trustAnchors: [path.join(certs, 'ca.pem')], crls: [path.join(certs, 'crl.pem')] } },
        });
      };
      const env = { MEDGATE_DATABASE_URL: db.url };
      const [initConfig, config1, config2] = ['init', 'node1', 'node2'].map(configOf);
      const nodes: ServeProcess[] = [];
      try {
        const [init, node1, node2] = await Promise.all([
          runCli(['init', '--config', initConfig!], { env }),
          tryServe(config1!, { ...env, MEDGATE_NODE_ID: 'node1' }),
          tryServe(config2!, { ...env, MEDGATE_NODE_ID: 'node2' }),
        ]);
        nodes.push(...[node1, node2].filter((n): n is ServeProcess => !(n instanceof Error)));
        expect(init.code, `round ${round}, init: ${init.stderr}`).toBe(0);
        expect(node1 instanceof Error ? node1.message : 'started', `round ${round}, node1`).toBe('started');
        expect(node2 instanceof Error ? node2.message : 'started', `round ${round}, node2`).toBe('started');
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          const accounts = (await client.query<{ address: string }>('SELECT address FROM accounts ORDER BY address')).rows.map((r) => r.address);
          expect(accounts, `round ${round}`).toEqual(DEMO_ADDRESSES);
          const migrations = await client.query<{ n: number; distinct: number }>('SELECT count(*)::int AS n, count(DISTINCT version)::int AS distinct FROM schema_migrations');
          expect(migrations.rows[0]!.n).toBe(migrations.rows[0]!.distinct);
          const caCreated = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'pki.init'");
          expect(caCreated.rows[0]!.n, `round ${round}: the test CA is made once`).toBe(1);
        } finally {
          await client.end();
        }
        expect(banners(init, nodes), `round ${round}: the demo practice is made by one process`).toBe(1);
      } finally {
        for (const n of nodes) await n.stop('SIGKILL').catch(() => undefined);
        await db.drop();
      }
    });
  }, 600_000);

  it(`SQLite: init and serve started at the same moment, ${ROUNDS} times on a fresh data directory: both start, one set of demo accounts`, async () => {
    await rounds(async (round) => {
      const root = tempDir('medgate-race-sqlite-');
      roots.push(root);
      const config = writeGatewayConfig(root, { demo: true });
      let node: ServeProcess | Error | undefined;
      try {
        let init: CliResult;
        [init, node] = await Promise.all([runCli(['init', '--config', config]), tryServe(config)]);
        expect(init.code, `round ${round}, init: ${init.stderr}`).toBe(0);
        expect(node instanceof Error ? node.message : 'started', `round ${round}, serve`).toBe('started');
        // Read through the store interfaces, beside the running node.
        const store = await openStore(loadConfig(config), { nodeId: 'race-reader' });
        try {
          const accounts = (await store.accounts.list()).map((a) => a.address).sort();
          expect(accounts, `round ${round}`).toEqual(DEMO_ADDRESSES);
          expect((await store.audit.list(1, 100_000)).filter((r) => r.action === 'pki.init'), `round ${round}: the test CA is made once`).toHaveLength(1);
        } finally {
          await store.close();
        }
        expect(banners(init, node instanceof Error ? [] : [node]), `round ${round}: the demo practice is made by one process`).toBe(1);
      } finally {
        if (node && !(node instanceof Error)) await node.stop('SIGKILL').catch(() => undefined);
      }
    });
  }, 600_000);
});
