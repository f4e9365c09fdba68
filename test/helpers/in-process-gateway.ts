/**
 * A gateway built in this test process from the wiring `medgate serve` uses — loadConfig →
 * createContext → startGateway — on SQLite or on a fresh PostgreSQL database of the run's cluster.
 * Set up as `medgate init` and the operator commands would (initialise, directory and whitelist
 * imports, accounts), by calling the services those commands call, not by spawning them: a fixture
 * costs one process start less per command. Tests look inside through the store interfaces
 * (`gw.store`), never through a database file.
 *
 * The gateway code comes from dist/ (as `serve` runs it): its sealing workers are the built
 * seal-worker.js. Run `npm run build` first, as `npm test` does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import type { MedgateConfig } from '../../src/config/schema.js';
import type { GatewayContext } from '../../src/context.js';
import type { RunningGateway } from '../../src/server.js';
import type { AccountKind, EntryStatus, Store } from '../../src/store/types.js';
import { loadConfig } from '../../dist/config/load.js';
import { createContext } from '../../dist/context.js';
import { initialise } from '../../dist/init/initialise.js';
import { startGateway } from '../../dist/server.js';
import { isOwnCopyAead } from '../../dist/crypto/seal/own-copy-aead.js';
import { accountKeyStoreOf, MetaKey, openOwnCopyAs } from '../../dist/mailbox/meta-key.js';
import { recordFolderName } from '../../dist/mailbox/folder-names.js';
import { DEMO_SAMPLES, tempDir, writeGatewayConfig } from './gateway.js';
import { createTestDatabase } from './postgres.js';
import type { StoreKind } from './stores.js';

export { describeOnStores, STORE_KINDS, type StoreKind } from './stores.js';

export interface AccountSpec {
  address: string;
  kind: AccountKind;
  password: string;
  rpps?: string;
  /** Nurses, physiotherapists…: ADELI instead of RPPS (`user add --adeli`). */
  adeli?: string;
  name?: string;
  /** The directory status to set after creation (e.g. a suspended application). */
  status?: EntryStatus;
}

export interface CreatedTestAccount {
  certificatePem: string;
  certificateKeyPem: string;
  /** The certificate and key written out, as `medgate user add --cert-out` does. */
  certFile: string;
  keyFile: string;
}

export interface InProcessGatewayOptions {
  store: StoreKind;
  domain?: string;
  /** Top-level config merged over the defaults of writeGatewayConfig (limits, security, peers, queue, ...). */
  extra?: Record<string, unknown>;
  ports?: Parameters<typeof writeGatewayConfig>[1]['ports'];
  /** Import the synthetic ANS extraction (default true) and the MSSanté whitelist (default true). */
  directory?: boolean;
  whitelist?: boolean;
  accounts?: AccountSpec[];
  /** The folder to use (otherwise a new temporary one, removed by stop()). */
  dir?: string;
  /**
   * With `store: 'postgres'`: this database (e.g. on a test's own cluster) instead of a new one on
   * the run's shared cluster. The test owns it: dispose() does not drop it.
   */
  postgres?: { url: string; poolSize?: number };
}

export interface InProcessGateway {
  kind: StoreKind;
  dir: string;
  configFile: string;
  config: MedgateConfig;
  ctx: GatewayContext;
  /** The store, for assertions: what a test reads, it reads through these interfaces. */
  store: Store;
  ports: RunningGateway['ports'];
  /** What startGateway returned (its TLS identity: `running.init.tls`); a new one after restart(). */
  running: RunningGateway;
  caFile: string;
  caPem: string;
  accounts: Record<string, CreatedTestAccount>;
  /** The gateway's JSON log lines (what serve writes to stdout). */
  logs: string[];
  /** Sealed messages in one mailbox, oldest first (through the store; external blobs included). */
  mailbox(owner: string, name: string): Promise<Buffer[]>;
  /** Opens a sealed message with the account's key, as `medgate message open` does; the original bytes. */
  open(sealed: Buffer, as: string, password: string): Promise<Buffer>;
  /**
   * The stored name of the folder `owner` names `display` (its typed parts pseudonymised,
   * src/mailbox/folder-names.ts), with what they stand for recorded as a CREATE records it: for a
   * test that files or looks through the store into a folder a person named.
   */
  folder(owner: string, password: string, display: string): Promise<string>;
  spoolFiles(): string[];
  /**
   * Stops the listeners and closes the context (as a `serve` stopped with SIGTERM), then builds a
   * new context from the same config and starts the gateway again on the same data, as `serve`
   * started anew would. `ctx`, `store` and `ports` are the new ones afterwards; logs keep going to
   * `logs`. Ports the config fixes (a peer's relay port) are bound again.
   */
  restart(): Promise<void>;
  /** Stops the listeners, closes the store, drops the PostgreSQL database, removes the folder. */
  stop(): Promise<void>;
}

/** A data folder and store set up as `medgate init` and the operator commands would, by calling their services. */
export interface PreparedGateway {
  kind: StoreKind;
  dir: string;
  configFile: string;
  config: MedgateConfig;
  ctx: GatewayContext;
  accounts: Record<string, CreatedTestAccount>;
  logs: string[];
  caFile: string;
  /** Closes the context (once), so that another process can own the store; dispose() does it too. */
  closeContext(): Promise<void>;
  /** Closes the context, drops the PostgreSQL database, removes the folder (if it made it). */
  dispose(): Promise<void>;
}

export async function prepareGatewayData(o: InProcessGatewayOptions): Promise<PreparedGateway> {
  const dir = o.dir ?? tempDir(`medgate-${o.store}-`);
  const ownDir = o.dir === undefined;
  const db = o.store === 'postgres' && !o.postgres ? await createTestDatabase() : undefined;
  const pgUrl = o.store === 'postgres' ? o.postgres?.url ?? db?.url : undefined;
  const extra = { ...o.extra, ...(pgUrl ? { store: { driver: 'postgres', postgres: { url: pgUrl, poolSize: o.postgres?.poolSize ?? 5 } } } : {}) };
  const configFile = writeGatewayConfig(dir, { domain: o.domain, ports: o.ports, extra });
  const config = loadConfig(configFile) as MedgateConfig;
  const logs: string[] = [];
  const ctx = (await createContext(config, { logDestination: { write: (line: string) => { logs.push(line.trimEnd()); } } })) as GatewayContext;
  let closed = false;
  const closeContext = async (): Promise<void> => {
    if (!closed) { closed = true; await ctx.close(); }
  };
  const dispose = async (): Promise<void> => {
    await closeContext().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    // `medgate init`: schema, test CA, gateway TLS and keys.
    await initialise(ctx as never, { createCaIfMissing: true });
    if (o.directory !== false) await ctx.directory.importAnsFile(path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt'));
    if (o.whitelist !== false) await ctx.directory.importWhitelistFile(path.join(DEMO_SAMPLES, 'liste-blanche.xml'));
    const accounts: Record<string, CreatedTestAccount> = {};
    const certDir = path.join(dir, 'client-certs');
    // `medgate user add --cert-out` for each (independent of each other: made at once).
    await Promise.all((o.accounts ?? []).map(async (a) => {
      const created = await ctx.accounts.create({ address: a.address, kind: a.kind, password: a.password, rpps: a.rpps, adeli: a.adeli, name: a.name });
      fs.mkdirSync(certDir, { recursive: true, mode: 0o700 });
      const base = path.join(certDir, created.account.address);
      fs.writeFileSync(`${base}.crt.pem`, created.certificatePem);
      fs.writeFileSync(`${base}.key.pem`, created.certificateKeyPem, { mode: 0o600 });
      accounts[created.account.address] = { certificatePem: created.certificatePem, certificateKeyPem: created.certificateKeyPem, certFile: `${base}.crt.pem`, keyFile: `${base}.key.pem` };
      if (a.status) await ctx.directory.setStatus(created.account.address, a.status);
    }));
    return { kind: o.store, dir, configFile, config, ctx, accounts, logs, caFile: path.join(config.pki.caDir, 'ca.pem'), closeContext, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * Prepared through the services, then handed to a real `medgate serve` (test/helpers/gateway.ts
 * startServe) for the tests that need a process to kill: the context is closed so the spawned
 * gateway owns the store alone.
 */
export async function prepareForServe(o: InProcessGatewayOptions): Promise<Omit<PreparedGateway, 'ctx' | 'logs'>> {
  const p = await prepareGatewayData(o);
  await p.closeContext();
  return { kind: p.kind, dir: p.dir, configFile: p.configFile, config: p.config, accounts: p.accounts, caFile: p.caFile, closeContext: p.closeContext, dispose: p.dispose };
}

/**
 * An imapflow client of `user` for the gateway's IMAP over TLS (its CA checked), not connected yet;
 * its errors go to the commands that fail, not to an unhandled 'error' event.
 */
export function imapflowFor(gw: Pick<InProcessGateway, 'ports' | 'caPem'>, user: string, pass: string): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user, pass } });
  c.on('error', () => undefined);
  return c;
}

export async function startInProcessGateway(o: InProcessGatewayOptions): Promise<InProcessGateway> {
  return startPreparedGateway(await prepareGatewayData(o));
}

/**
 * Starts a gateway on data prepared by prepareGatewayData (its context still open), as `serve`
 * does once the data folder is ready: for fixtures that do more between the two (two gateways that
 * exchange their directory exports before either serves).
 */
export async function startPreparedGateway(p: PreparedGateway): Promise<InProcessGateway> {
  const { config } = p;
  let ctx = p.ctx;
  let running: RunningGateway | undefined;
  // The first context is closed once, by the prepared data's closeContext/dispose; a restart's own by us.
  const closeCurrent = (): Promise<void> => (ctx === p.ctx ? p.closeContext() : ctx.close());
  const stop = async (): Promise<void> => {
    await running?.close().catch(() => undefined);
    await closeCurrent().catch(() => undefined);
    await p.dispose();
  };
  try {
    // What `serve` does once the data folder is ready.
    running = (await startGateway(ctx as never)) as RunningGateway;
  } catch (err) {
    await stop();
    throw err;
  }
  const spoolDir = path.join(config.dataDir, 'spool');
  const gw: InProcessGateway = {
    kind: p.kind, dir: p.dir, configFile: p.configFile, config, ctx, store: ctx.store, ports: running.ports, running, caFile: p.caFile,
    caPem: fs.readFileSync(p.caFile, 'utf8'), accounts: p.accounts, logs: p.logs,
    async mailbox(owner, name) {
      const store = gw.store;
      const box = await store.mail.getMailbox(owner, name);
      if (!box) return [];
      const out: Buffer[] = [];
      for (const m of await store.mail.listMessages(box.id)) {
        const blob = await store.mail.getBlob(m.blobId);
        if (!blob) throw new Error(`message ${m.uid} of ${owner}/${name}: blob ${m.blobId} missing`);
        out.push(blob);
      }
      return out;
    },
    async folder(owner, password, display) {
      const unlocked = await gw.ctx.accounts.unlock(owner, password, { via: 'cli' });
      const key = await MetaKey.forAccount(accountKeyStoreOf(gw.ctx), owner, unlocked.pgpKey);
      return recordFolderName(gw.store.mail, key, owner, display);
    },
    async open(sealed, as, password) {
      const unlocked = await gw.ctx.accounts.unlock(as, password, { via: 'cli' });
      if (isOwnCopyAead(sealed)) return openOwnCopyAs(gw.store.accounts, as, unlocked.pgpKey, sealed, gw.ctx.config.security.unsignedAccountKeys);
      return (await (await gw.ctx.sealer()).open(sealed, unlocked.pgpKey)).raw;
    },
    spoolFiles: () => (fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir) : []),
    async restart() {
      await running?.close();
      running = undefined;
      await closeCurrent();
      ctx = (await createContext(config, { logDestination: { write: (line: string) => { p.logs.push(line.trimEnd()); } } })) as GatewayContext;
      running = (await startGateway(ctx as never)) as RunningGateway;
      gw.ctx = ctx;
      gw.store = ctx.store;
      gw.ports = running.ports;
      gw.running = running;
    },
    stop,
  };
  return gw;
}
