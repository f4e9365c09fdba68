import path from 'node:path';
import type { MedgateConfig } from '../config/schema.js';
import { MedgateError } from '../errors.js';
import { classifyConnectFailure, endpointOf } from './postgres/connect-failure.js';
import type { PgStore } from './postgres/pg-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { MigrateOptions, Store } from './types.js';

export type * from './types.js';

export interface OpenStoreOptions {
  /** This process among the nodes sharing a PostgreSQL store (change feed, queue leases). */
  nodeId?: string;
  /** Told a code, never a query, when the database connection is lost (PostgreSQL). */
  onError?: (code: string) => void;
  env?: NodeJS.ProcessEnv;
  /**
   * The filing data key, for a migration that seals values an older medgate kept in clear (read
   * only when there are such rows): the caller knows where keys are, the store does not.
   */
  migrationKeys?: MigrateOptions['keys'];
}

/**
 * Which store the config and the environment ask for. `MEDGATE_DATABASE_URL` wins over the config
 * (containers pass it so), and selects PostgreSQL by itself.
 */
export function resolveStore(config: MedgateConfig, env: NodeJS.ProcessEnv = process.env):
  { driver: 'sqlite'; file: string } | { driver: 'postgres'; url: string; poolSize: number; connectTimeoutSeconds: number; source: string } {
  const fromEnv = env['MEDGATE_DATABASE_URL']?.trim();
  const poolSize = config.store.postgres?.poolSize ?? 10;
  const connectTimeoutSeconds = config.store.postgres?.connectTimeoutSeconds ?? 5;
  if (fromEnv) return { driver: 'postgres', url: fromEnv, poolSize, connectTimeoutSeconds, source: 'MEDGATE_DATABASE_URL' };
  if (config.store.driver === 'postgres') {
    const url = config.store.postgres?.url;
    if (!url) {
      throw new MedgateError('STORE_CONFIG_INVALID',
        'store.driver is "postgres" but no database URL is set: give store.postgres.url or MEDGATE_DATABASE_URL');
    }
    return { driver: 'postgres', url, poolSize, connectTimeoutSeconds, source: 'store.postgres.url' };
  }
  return { driver: 'sqlite', file: path.resolve(config.dataDir, config.store.sqlite.file) };
}

/** Opens the configured store and brings its schema up to date. */
export async function openStore(config: MedgateConfig, options: OpenStoreOptions = {}): Promise<Store> {
  const chosen = resolveStore(config, options.env);
  const migrateOptions: MigrateOptions = options.migrationKeys ? { keys: options.migrationKeys } : {};
  if (chosen.driver === 'sqlite') {
    const store = SqliteStore.open(chosen.file);
    try {
      await store.migrate(migrateOptions);
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
    return store;
  }
  const connectTimeoutMs = chosen.connectTimeoutSeconds * 1000;
  // Refused, timed out, wrong password, no such database: one line each, with its own exit status.
  const explain = (err: unknown): unknown =>
    classifyConnectFailure(err, endpointOf(chosen.url), { timeoutSeconds: chosen.connectTimeoutSeconds, source: chosen.source }) ?? err;
  // Until the store is open, a lost connection is the failure reported below, in one line: the
  // change feed's own complaint about it would be a second, vaguer one.
  let opened = false;
  const onError = options.onError;
  let store: PgStore;
  try {
    // Loaded only for PostgreSQL: the driver and its code are ~15 MB of a gateway at rest on SQLite (issue 31).
    const { PgStore: Pg } = await import('./postgres/pg-store.js');
    store = await Pg.open({
      url: chosen.url, poolSize: chosen.poolSize, connectTimeoutMs, nodeId: options.nodeId ?? `node-${process.pid}`,
      ...(onError ? { onError: (code: string) => { if (opened) onError(code); } } : {}),
    });
  } catch (err) {
    throw explain(err);
  }
  try {
    await store.migrate(migrateOptions);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw explain(err);
  }
  opened = true;
  return store;
}
