import fs from 'node:fs';
import path from 'node:path';
import type { MedgateConfig } from '../config/schema.js';
import type { GatewayContext } from '../context.js';
import { ensureCustodyKey, ensureFilingKey, ensurePostmasterKey, type FilingKey } from '../crypto/gateway-keys.js';
import { ensureFilingDataKey } from '../filing/data-key.js';
import { MedgateError } from '../errors.js';
import { createTestCa, ensureGatewayTls, type GatewayTls } from '../pki/index.js';
import { createDemoPractice, type DemoAccount } from './demo.js';

export interface Initialised {
  tls: GatewayTls;
  filingKey: FilingKey;
  createdCa: boolean;
  demoAccounts: DemoAccount[];
}

export interface InitialiseOptions {
  createCaIfMissing: boolean;
  /**
   * A node of a cluster (PostgreSQL store) never makes the gateway keys: `medgate init` does, into
   * the keysDir every node shares. Started before init has finished, the node waits this long for
   * them, then refuses. Absent: the keys are made here when missing (`init`, or SQLite).
   */
  waitForGatewayKeysMs?: number;
  /** Told once when the node starts waiting for `medgate init`. */
  onWaiting?: (missing: string[]) => void;
}

/**
 * Brings a data directory to a runnable state: schema (already migrated by the store), test CA when
 * allowed and missing, current CRL, gateway TLS identity, filing key and — on an empty store with the
 * demo enabled — the demo practice. Safe to run again: each step only does what is missing.
 *
 * All of it runs under the store's start-up lock (a PostgreSQL advisory lock, an OS file lock for
 * SQLite): `init` and the nodes started at the same second take turns, and the first does the work
 * the others then find done. Nothing relies on the order a container tool starts them in.
 */
export async function initialise(ctx: GatewayContext, opts: InitialiseOptions): Promise<Initialised> {
  const deadline = Date.now() + (opts.waitForGatewayKeysMs ?? 0);
  let told = false;
  for (;;) {
    // Looked at first without the lock: a node waiting for init does not open a connection (or
    // take the lock init needs) four times a second. Looked at again under it: init may be mid-way.
    const absent = opts.waitForGatewayKeysMs !== undefined ? missingGatewayFiles(ctx.config) : [];
    const done = absent.length ? absent : await ctx.store.withStartupLock(async () => {
      if (opts.waitForGatewayKeysMs !== undefined) {
        const missing = missingGatewayFiles(ctx.config);
        if (missing.length) return missing;
      }
      return initialiseLocked(ctx, opts);
    });
    if (!Array.isArray(done)) return done;
    if (Date.now() >= deadline) {
      throw new MedgateError('CLUSTER_NOT_INITIALISED',
        `the gateway keys are missing from ${ctx.config.keysDir ?? ctx.config.dataDir} (${done.join(', ')}): with a PostgreSQL store, run \`medgate init\` once, then start every node with that same keysDir`);
    }
    if (!told) opts.onWaiting?.(done);
    told = true;
    // Outside the lock: init needs it to make the keys.
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function initialiseLocked(ctx: GatewayContext, opts: InitialiseOptions): Promise<Initialised> {
  const { config } = ctx;
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let createdCa = false;
  if (opts.createCaIfMissing && !fs.existsSync(path.join(config.pki.caDir, 'ca.pem'))) {
    await createTestCa({ dir: config.pki.caDir, commonName: `medgate test CA (${config.domain})` });
    createdCa = true;
    await ctx.audit.record({ actor: 'system', action: 'pki.init', outcome: 'ok', details: { caDir: config.pki.caDir } });
  }
  if (fs.existsSync(path.join(config.pki.caDir, 'ca.pem'))) {
    // Keep the published CRL fresh at every start (MSSanté: "keep the latest CRL").
    await (await ctx.loadCa()).crlPem();
  }
  const tls = await ensureGatewayTls(config, ctx.loadCa);
  const keysDir = config.keysDir ?? config.dataDir;
  const filingKey = await ensureFilingKey(keysDir, config.domain);
  // Every gateway key now, not at first use: the nodes of a cluster started after init share them
  // and never race to create different ones.
  await ensureCustodyKey(keysDir, config.domain);
  await ensurePostmasterKey(keysDir, config.domain);
  await ensureFilingDataKey(keysDir);
  let demoAccounts: DemoAccount[] = [];
  // Under the lock, so "no account yet" is still true when the accounts are created: the demo
  // practice is made once, by whichever of init and the nodes comes first.
  if (config.demo.enabled && config.demo.file && (await ctx.store.accounts.list()).length === 0) {
    demoAccounts = await createDemoPractice(ctx, config.demo.file);
  }
  return { tls, filingKey, createdCa, demoAccounts };
}

/**
 * The gateway files `initialise` creates that every node of a cluster must share (keysDir): keys,
 * filing data key and, unless configured, the TLS identity. Returns the missing ones, relative.
 */
export function missingGatewayFiles(config: MedgateConfig): string[] {
  const keysDir = config.keysDir ?? config.dataDir;
  const wanted = ['keys/filing-key.asc', 'keys/custody-key.asc', 'keys/postmaster-key.asc', 'keys/filing-data.key'];
  if (!config.tls.certFile) wanted.push('tls/gateway.crt.pem', 'tls/gateway.key.pem');
  return wanted.filter((f) => !fs.existsSync(path.join(keysDir, f)));
}

/**
 * Spool files hold messages before they are sealed (clear text). Normally each is removed when its
 * SMTP transaction ends; after a crash or power loss they are removed here, before anything listens.
 */
export function removeLeftoverSpool(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.eml')) continue;
    fs.rmSync(path.join(dir, name), { force: true });
    removed++;
  }
  return removed;
}
