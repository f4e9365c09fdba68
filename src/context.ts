import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { AccountService } from './accounts/account-service.js';
import { AuditTrail } from './audit/audit-trail.js';
import type { MedgateConfig } from './config/schema.js';
import { ensureCustodyKey, ensureFilingKey, ensureIntakeKey } from './crypto/gateway-keys.js';
import { DirectoryService } from './directory/directory-service.js';
import { filingMigrationKeys } from './filing/part-names.js';
import type { MessageSealer } from './message/sealer.js';
import { createLogger, type LogDestination, type Logger } from './log.js';
import { MailEvents } from './mailbox/mail-events.js';
import { StoreLocalDelivery, type LocalDelivery } from './mailbox/local-delivery.js';
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
  /** The sealing pipeline, with this gateway's filing key (created on first use). */
  sealer: () => Promise<MessageSealer>;
  /** Mailbox change notifications (IMAP IDLE): in this process, and across nodes with a cluster store. */
  mailEvents: MailEvents;
  /**
   * The one way to put mail into mailboxes: commits, then announces it (EXISTS on every session of
   * every node). Every writer uses it (src/mailbox/local-delivery.ts).
   */
  localDelivery: LocalDelivery;
  /** This process among the nodes sharing the store (queue leases, logs): `MEDGATE_NODE_ID` or host+pid. */
  nodeId: string;
  close(): Promise<void>;
}

export interface ContextOptions {
  /** Standard output by default; a sink object takes each JSON line (the in-process test gateway keeps them). */
  logDestination?: LogDestination;
}

export async function createContext(config: MedgateConfig, opts: ContextOptions = {}): Promise<GatewayContext> {
  const logger = createLogger(config.log.level, opts.logDestination ?? 'stdout', config.log.format);
  const nodeId = process.env.MEDGATE_NODE_ID || `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  // Lost connections are logged by code only: a query may carry values.
  const store = await openStore(config, {
    nodeId, onError: (code) => logger.warn({ code }, 'database connection problem'),
    // Read only by a migration with clear part names to seal (src/store/sealed-part-names.ts).
    migrationKeys: () => filingMigrationKeys(config.keysDir ?? config.dataDir),
  });
  const audit = new AuditTrail(store.audit);
  audit.configureRefusals(config.audit.refusals, (err) => logger.error({ code: (err as { code?: string }).code ?? (err as Error).name }, 'audit aggregate record failed'));
  const directory = new DirectoryService(store, audit, config.domain);
  let ca: Promise<TestCa> | undefined;
  const loadCa = (): Promise<TestCa> => (ca ??= loadTestCa(config.pki.caDir).catch((err: unknown) => { ca = undefined; throw err; }));
  const accounts = new AccountService({
    store, audit, domain: config.domain, loadCa,
    loadCustodyKey: async () => (await ensureCustodyKey(config.keysDir ?? config.dataDir, config.domain)).privateKey,
    kdfMemoryExponent: config.security.kdfMemoryExponent,
    minPasswordLength: config.security.minPasswordLength,
    loginCache: config.security.loginCache,
    loginLimits: config.security.loginLimits,
  });
  let sealer: Promise<MessageSealer> | undefined;
  // Loaded when first asked for: the MIME and sealing code is most of what a CLI command would load
  // at start, and most commands (user, directory, pki, audit, queue) never seal.
  const keysDir = config.keysDir ?? config.dataDir;
  const getSealer = (): Promise<MessageSealer> => (sealer ??= Promise.all([ensureFilingKey(keysDir, config.domain), ensureIntakeKey(keysDir, config.domain), import('./message/sealer.js')])
    .then(([k, intake, m]) => new m.MessageSealer(directory, config.domain, k.privateKey, config.smime.prefer, config.mssante.outbound, intake.privateKey, { anchors: config.pki.trustAnchors, crls: config.pki.crls }))
    .catch((err: unknown) => { sealer = undefined; throw err; }));
  const mailEvents = new MailEvents(store.changes);
  const localDelivery = new StoreLocalDelivery(store, mailEvents, logger);
  return {
    nodeId, config, logger, store, audit, directory, accounts, loadCa, sealer: getSealer, mailEvents, localDelivery,
    close: async () => { mailEvents.close(); await store.close(); },
  };
}
