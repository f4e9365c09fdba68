import { AccountService } from './accounts/account-service.js';
import { AuditTrail } from './audit/audit-trail.js';
import type { MedgateConfig } from './config/schema.js';
import { DirectoryService } from './directory/directory-service.js';
import { createLogger, type Logger } from './log.js';
import { loadTestCa, type TestCa } from './pki/index.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';

/** The services every command and listener shares, built once from a validated config. */
export interface GatewayContext {
  config: MedgateConfig;
  logger: Logger;
  store: Store;
  audit: AuditTrail;
  directory: DirectoryService;
  accounts: AccountService;
  loadCa: () => Promise<TestCa>;
  close(): Promise<void>;
}

export async function createContext(config: MedgateConfig, opts: { logDestination?: 'stdout' | 'stderr' } = {}): Promise<GatewayContext> {
  const logger = createLogger(config.log.level, opts.logDestination ?? 'stdout');
  const store = await openStore(config);
  const audit = new AuditTrail(store.audit);
  const directory = new DirectoryService(store, audit, config.domain);
  let ca: Promise<TestCa> | undefined;
  const loadCa = (): Promise<TestCa> => (ca ??= loadTestCa(config.pki.caDir));
  const accounts = new AccountService({
    store, audit, domain: config.domain, loadCa,
    kdfMemoryExponent: config.security.kdfMemoryExponent,
    minPasswordLength: config.security.minPasswordLength,
  });
  return {
    config, logger, store, audit, directory, accounts, loadCa,
    close: () => store.close(),
  };
}
