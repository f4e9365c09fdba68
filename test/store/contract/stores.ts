/**
 * The stores the contract suite runs against: the same tests, once per store. PostgreSQL needs the
 * run's throw-away cluster (test/setup/postgres.ts); without it its half is skipped, loudly.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe } from 'vitest';
import { PgStore } from '../../../src/store/postgres/pg-store.js';
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../../src/store/types.js';
import { tempDir } from '../../helpers/gateway.js';
import { PG_NOT_FOUND_BANNER, PgCluster, testPostgres } from '../../helpers/postgres.js';

export interface StoreHarness {
  store: Store;
  /** Another store instance (another node, another connection) over the same database. */
  another(): Promise<Store>;
  /** Rows in a table, read directly (what the interface does not show: blobs left, chunks). */
  count(table: string): Promise<number>;
  /** Runs raw SQL (test set-up only). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

export interface StoreFactory {
  name: 'sqlite' | 'postgres';
  available: boolean;
  open(): Promise<StoreHarness>;
  /** Per file: drops what the factory made. */
  finish(): Promise<void>;
}

function sqliteFactory(): StoreFactory {
  return {
    name: 'sqlite',
    available: true,
    async open() {
      const dir = tempDir();
      const file = path.join(dir, 'db', 'm.db');
      const store = SqliteStore.open(file);
      await store.migrate();
      const others: SqliteStore[] = [];
      return {
        store,
        async another() {
          const s = SqliteStore.open(file);
          others.push(s);
          return s;
        },
        async count(table) {
          return (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
        },
        async exec(sql) {
          store.db.exec(sql);
        },
        async close() {
          for (const s of others) await s.close();
          await store.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    async finish() {},
  };
}

function postgresFactory(): StoreFactory {
  const info = testPostgres();
  let template: string | undefined;
  const cluster = info ? PgCluster.attach(info) : undefined;
  const admin = async <T>(work: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: cluster!.url() });
    await c.connect();
    try { return await work(c); } finally { await c.end(); }
  };
  const created: string[] = [];
  return {
    name: 'postgres',
    available: !!info,
    async open() {
      // One migrated template per file; each test gets a copy of it (fast, and isolated).
      if (!template) {
        const name = `contract_tpl_${randomBytes(5).toString('hex')}`;
        await admin((c) => c.query(`CREATE DATABASE ${name}`));
        created.push(name);
        const s = await PgStore.open({ url: cluster!.url(name), poolSize: 2, nodeId: 'template' });
        await s.migrate();
        await s.close();
        template = name;
      }
      const name = `contract_${randomBytes(6).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
      const url = cluster!.url(name);
      const store = await PgStore.open({ url, poolSize: 10, nodeId: 'node-a' });
      await store.migrate();
      const others: PgStore[] = [];
      return {
        store,
        async another() {
          const s = await PgStore.open({ url, poolSize: 10, nodeId: `node-${others.length + 2}` });
          others.push(s);
          return s;
        },
        async count(table) {
          return (await store.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))?.n ?? 0;
        },
        async exec(sql) {
          await store.db.query(sql);
        },
        async close() {
          for (const s of others) await s.close();
          await store.close();
          await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
        },
      };
    },
    async finish() {
      for (const name of created.splice(0)) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      template = undefined;
    },
  };
}

export const STORES: StoreFactory[] = [sqliteFactory(), postgresFactory()];
if (!testPostgres()) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

/**
 * `describe.each` over the stores: a fresh store per test in `h()`. The PostgreSQL half is
 * skipped (reported as skipped, never passed) when no cluster runs.
 */
export function contract(title: string, body: (h: () => StoreHarness, kind: StoreFactory['name']) => void): void {
  describe.each(STORES)(`$name store: ${title}`, (factory) => {
    describe.skipIf(!factory.available)(factory.available ? 'contract' : `SKIPPED: ${PG_NOT_FOUND_BANNER}`, () => {
      let harness: StoreHarness | undefined;
      beforeEach(async () => { harness = await factory.open(); });
      afterEach(async () => { await harness?.close(); harness = undefined; });
      afterAll(async () => { await factory.finish(); });
      body(() => harness!, factory.name);
    });
  });
}
