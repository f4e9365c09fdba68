import path from 'node:path';
import type { MedgateConfig } from '../config/schema.js';
import { MedgateError } from '../errors.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store } from './types.js';

export type * from './types.js';

/** Opens the configured store and brings its schema up to date. */
export async function openStore(config: MedgateConfig): Promise<Store> {
  if (config.store.driver !== 'sqlite') {
    throw new MedgateError('STORE_DRIVER_UNAVAILABLE',
      `store.driver "${config.store.driver}" is not available in this version; use "sqlite"`);
  }
  const file = path.resolve(config.dataDir, config.store.sqlite.file);
  const store = SqliteStore.open(file);
  await store.migrate();
  return store;
}
