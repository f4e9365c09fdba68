/**
 * Two gateways for the relay, queue and crash tests: cabinet-antony (A) and cardio-sceaux (B), one
 * shared test CA, peers pointing at each other's relay port on 127.0.0.1, directory exports
 * exchanged so each knows the other's users, keys and filing key. Each runs as a real `medgate
 * serve` process (these tests stop, restart and kill them), or — with `inProcess` — in the test
 * process from the wiring serve uses (startGateway), a process start less per gateway; on SQLite
 * or on its own PostgreSQL database. The data folders are prepared through the services the CLI
 * commands call (test/helpers/in-process-gateway.ts), and tests read the stores through their
 * interfaces.
 */
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { GatewayContext } from '../../src/context.js';
import type { RunningGateway } from '../../src/server.js';
import type { QueueItem, Store } from '../../src/store/types.js';
import { openStore } from '../../dist/store/index.js';
import { startGateway } from '../../dist/server.js';
import { ensureFilingKey } from '../../dist/crypto/gateway-keys.js';
import { ensurePostmaster } from '../../dist/mailbox/postmaster.js';
import { runCli, startServe, tempDir, type ServeProcess } from '../helpers/gateway.js';
import { prepareGatewayData, type PreparedGateway, type StoreKind } from '../helpers/in-process-gateway.js';
import { freePorts } from '../helpers/ports.js';

export const A_DOMAIN = 'cabinet-antony.medgate.test';
export const B_DOMAIN = 'cardio-sceaux.medgate.test';
export const PAUL = `paul.demo@${A_DOMAIN}`;
export const JL = `jl.letest@${A_DOMAIN}`;
export const CLAIRE = `claire.martin@${B_DOMAIN}`;
export const PASSWORD = 'correct horse battery';

export interface GatewayHandle {
  domain: string;
  dir: string;
  config: string;
  relayPort: number;
  kind: StoreKind;
  serve?: ServeProcess;
  cli(...args: string[]): ReturnType<typeof runCli>;
  /** The gateway's store, opened from its config beside the serving process (for assertions). */
  store(): Promise<Store>;
  /** `inProcess`: the context the data folder was prepared with, kept open until release(). */
  ctx?: GatewayContext;
  /** `inProcess`: the gateway started in this process by startInProcess(). */
  running?: InProcessRunning;
  /** `inProcess`: stops the in-process gateway and closes the context, so that a spawned serve can own the store. */
  release(): Promise<void>;
}

export interface InProcessRunning {
  ports: RunningGateway['ports'];
  /** The gateway's JSON log lines (what serve writes to stdout). */
  logs: string[];
  close(): Promise<void>;
}

export interface TwoGateways {
  root: string;
  caDir: string;
  a: GatewayHandle;
  b: GatewayHandle;
  cleanup(): Promise<void>;
}

async function must(p: ReturnType<typeof runCli>, what: string): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export interface TwoGatewayOptions {
  /** Where both gateways keep their data (default SQLite). */
  store?: StoreKind;
  queue?: Record<string, number>;
  /** Extra accounts (address → RPPS) per gateway. */
  extraUsers?: { a?: string[][]; b?: string[][] };
  /** Application or record-server accounts per gateway (created before the directory exchange). */
  serviceAccounts?: { a?: Array<{ address: string; kind: 'application' | 'rmp' }>; b?: Array<{ address: string; kind: 'application' | 'rmp' }> };
  /** Extra top-level config per gateway (e.g. `filing`). */
  config?: { a?: Record<string, unknown>; b?: Record<string, unknown> };
  /** Write each account's certificate and key to `<root>/account-certs/<address>.{crt,key}.pem` (S/MIME tests). */
  certOut?: boolean;
  /**
   * Keep each gateway's context open after preparing it, to start it in this process
   * (startInProcess) instead of spawning `medgate serve`; release() hands one to a spawned serve.
   */
  inProcess?: boolean;
  /** Extra top-level config computed once the shared CA exists (e.g. B reading its own copy of the CRL); merged over `config`. */
  configAfterCa?: { b?: (paths: { root: string; caDir: string }) => Record<string, unknown> };
}

/** Where `certOut` put an account's certificate and key. */
export function accountCert(t: { root: string }, address: string): { cert: string; key: string } {
  const base = path.join(t.root, 'account-certs', address);
  return { cert: `${base}.crt.pem`, key: `${base}.key.pem` };
}

/** The JSON log lines of each gateway's in-process context. */
const preparedLogs = new WeakMap<GatewayHandle, string[]>();

export async function setupTwoGateways(o: TwoGatewayOptions = {}): Promise<TwoGateways> {
  const root = tempDir('medgate-relay-');
  const caDir = path.join(root, 'ca');
  const kind = o.store ?? 'sqlite';
  const [relayA, relayB] = await freePorts(2);
  const queue = { pollMs: 100, retryBaseSeconds: 0.2, retryMaxSeconds: 1, delayNoticeAfterMinutes: 60, maxLifetimeHours: 1, ...o.queue };
  const prepare = async (name: string, domain: string, relayPort: number, peerDomain: string, peerPort: number, users: string[][], services: Array<{ address: string; kind: 'application' | 'rmp' }> = [], more: Record<string, unknown> = {}): Promise<PreparedGateway> => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    const p = await prepareGatewayData({
      store: kind, dir, domain, ports: { smtpRelay: relayPort },
      extra: {
        pki: { caDir, trustAnchors: [path.join(caDir, 'ca.pem')], crls: [path.join(caDir, 'crl.pem')] },
        peers: [{ domain: peerDomain, host: '127.0.0.1', port: peerPort }],
        queue,
        limits: { maxMessageBytes: 40 * 1024 * 1024 },
        // Two gateways in one test process on a 2-core machine: one sealing thread each, not one
        // per core each (every thread started loads the crypto code again).
        ...(o.inProcess ? { workers: { sealing: { maxThreads: 1 } } } : {}),
        ...more,
      },
      accounts: [
        ...users.map(([address, rpps]) => ({ address: address!, kind: 'person' as const, rpps: rpps!, password: PASSWORD })),
        ...services.map((x) => ({ address: x.address, kind: x.kind, password: PASSWORD })),
      ],
    });
    if (o.certOut) {
      const out = path.join(root, 'account-certs');
      fs.mkdirSync(out, { recursive: true, mode: 0o700 });
      for (const [address, c] of Object.entries(p.accounts)) {
        fs.writeFileSync(path.join(out, `${address}.crt.pem`), c.certificatePem);
        fs.writeFileSync(path.join(out, `${address}.key.pem`), c.certificateKeyPem, { mode: 0o600 });
      }
    }
    return p;
  };
  // A first: it makes the shared test CA, which B then uses.
  const pa = await prepare('a', A_DOMAIN, relayA!, B_DOMAIN, relayB!, [[PAUL, '10100000017'], ...(o.extraUsers?.a ?? [])], o.serviceAccounts?.a, o.config?.a);
  const pb = await prepare('b', B_DOMAIN, relayB!, A_DOMAIN, relayA!, [[CLAIRE, '10100000025'], ...(o.extraUsers?.b ?? [])], o.serviceAccounts?.b, { ...o.config?.b, ...o.configAfterCa?.b?.({ root, caDir }) });
  // `medgate directory export` on each, `medgate directory peer import` of the other's.
  const exportOf = async (p: PreparedGateway, name: string): Promise<string> => {
    const keysDir = p.config.keysDir ?? p.config.dataDir;
    const filing = await ensureFilingKey(keysDir, p.config.domain);
    await ensurePostmaster(p.ctx as never);
    const certFile = path.join(keysDir, 'tls', 'gateway.crt.pem');
    const file = path.join(root, `export-${name}.json`);
    fs.writeFileSync(file, await p.ctx.directory.exportLocal({ filingKeyArmored: filing.publicKeyArmored, gatewayCertificatePem: fs.existsSync(certFile) ? fs.readFileSync(certFile, 'utf8') : undefined }));
    return file;
  };
  const [exportA, exportB] = [await exportOf(pa, 'a'), await exportOf(pb, 'b')];
  await pa.ctx.directory.importPeerFile(exportB);
  await pb.ctx.directory.importPeerFile(exportA);
  // The spawned serve processes own the stores from here (in-process gateways keep theirs).
  if (!o.inProcess) {
    await pa.closeContext();
    await pb.closeContext();
  }
  const readers: Array<Promise<Store>> = [];
  const withLogs = (g: GatewayHandle, p: PreparedGateway): GatewayHandle => { preparedLogs.set(g, p.logs); return g; };
  const handle = (p: PreparedGateway, relayPort: number): GatewayHandle => {
    let reader: Promise<Store> | undefined;
    const g: GatewayHandle = {
      domain: p.config.domain, dir: p.dir, config: p.configFile, relayPort, kind,
      ...(o.inProcess ? { ctx: p.ctx } : {}),
      cli: (...args: string[]) => runCli([...args, '--config', p.configFile]),
      // In process, the gateway's own store; otherwise one opened beside the serving process.
      store: () => (g.ctx ? Promise.resolve(g.ctx.store) : (reader ??= (() => { const s = openStore(p.config as never, { nodeId: 'test-reader' }) as Promise<Store>; readers.push(s); return s; })())),
      async release() {
        await g.running?.close();
        g.running = undefined;
        g.ctx = undefined;
        await p.closeContext();
      },
    };
    return withLogs(g, p);
  };
  const a = handle(pa, relayA!);
  const b = handle(pb, relayB!);
  return {
    root, caDir, a, b,
    async cleanup() {
      await Promise.all([a, b].map(async (g) => { if (g.serve) await g.serve.stop('SIGKILL').catch(() => undefined); }));
      await Promise.all([a, b].map(async (g) => { await g.running?.close().catch(() => undefined); }));
      for (const r of readers) await (await r.catch(() => undefined))?.close().catch(() => undefined);
      // Drops the PostgreSQL databases and removes the folders' contents.
      await pa.dispose();
      await pb.dispose();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function serve(g: GatewayHandle): Promise<ServeProcess> {
  g.serve = await startServe(g.config);
  return g.serve;
}

/** Starts a gateway set up with `inProcess` in this process, as `serve` would (startGateway on its context). */
export async function startInProcess(g: GatewayHandle): Promise<InProcessRunning> {
  const ctx = g.ctx;
  if (!ctx) throw new Error(`${g.domain}: not prepared in process (setupTwoGateways({ inProcess: true })), or released`);
  // The lines the context's log destination collected (test/helpers/in-process-gateway.ts).
  const logs = preparedLogs.get(g) ?? [];
  const running = (await startGateway(ctx as never)) as RunningGateway;
  let closed = false;
  g.running = { ports: running.ports, logs, close: async () => { if (!closed) { closed = true; await running.close(); } } };
  return g.running;
}

/** The listening ports of a gateway, spawned or in process. */
export function portsOf(g: GatewayHandle): Record<string, number> {
  const ports = g.running?.ports ?? g.serve?.ports;
  if (!ports) throw new Error(`${g.domain}: not started`);
  return ports;
}

/** `medgate pki revoke <serial>` on the shared test CA: through the gateway's context in process, the CLI otherwise. */
export async function revoke(g: GatewayHandle, serial: string): Promise<void> {
  if (!g.ctx) {
    await must(g.cli('pki', 'revoke', serial), `pki revoke ${serial}`);
    return;
  }
  const ca = await g.ctx.loadCa();
  await ca.revoke(serial);
  await ca.crlPem();
  await g.ctx.audit.record({ actor: 'operator', action: 'pki.revoke', outcome: 'ok', details: { serial } });
}

/**
 * Opens a sealed message as `as` would with `medgate message open`: in process through the account
 * and sealing services of the gateway's context; the original bytes and the signature verdict.
 */
export async function openAs(g: GatewayHandle, sealed: Buffer, as: string, password = PASSWORD): Promise<{ raw: Buffer; signer: string }> {
  if (!g.ctx) throw new Error(`${g.domain}: openAs needs the gateway prepared in process`);
  const unlocked = await g.ctx.accounts.unlock(as, password, { via: 'cli' });
  // open() throws unless the signature verifies (the CLI prints "signature valid: <signer>").
  const opened = await (await g.ctx.sealer()).open(sealed, unlocked.pgpKey);
  return { raw: opened.raw, signer: opened.verification.signer };
}

/** The outbound queue items still undelivered (what `medgate queue list` shows), through the store. */
export async function pendingQueue(g: GatewayHandle): Promise<QueueItem[]> {
  return (await (await g.store()).queue.list()).filter((i) => i.recipients.some((r) => r.status !== 'delivered'));
}

/** Where a gateway keeps a large sealed message (a file beside the database: src/store/files). */
export function blobFile(g: GatewayHandle, blobId: string): string {
  return path.join(g.dir, 'data', 'blobs', blobId.slice(0, 2), blobId);
}

/** The blob ids (sha256 of the sealed bytes) in an owner's mailbox, oldest first. */
export async function mailboxBlobIds(g: GatewayHandle, owner: string, mailbox = 'INBOX'): Promise<string[]> {
  const store = await g.store();
  const box = await store.mail.getMailbox(owner, mailbox);
  return box ? (await store.mail.listMessages(box.id)).map((m) => m.blobId) : [];
}

/** The documents a gateway has filed, oldest first (through the filing store). */
export async function filedDocuments(g: GatewayHandle): Promise<Awaited<ReturnType<Store['filing']['documentsSince']>>> {
  return (await g.store()).filing.documentsSince(0, 100_000);
}

/** The sealed blobs in an owner's mailbox, oldest first (through the store; large ones from their files). */
export async function mailboxBlobs(g: GatewayHandle, owner: string, mailbox = 'INBOX'): Promise<Buffer[]> {
  const store = await g.store();
  const box = await store.mail.getMailbox(owner, mailbox);
  if (!box) return [];
  const out: Buffer[] = [];
  for (const m of await store.mail.listMessages(box.id)) {
    const blob = await store.mail.getBlob(m.blobId);
    if (!blob) throw new Error(`${owner}/${mailbox} uid ${m.uid}: blob ${m.blobId} missing`);
    out.push(blob);
  }
  return out;
}

export function caPem(t: TwoGateways): string {
  return fs.readFileSync(path.join(t.caDir, 'ca.pem'), 'utf8');
}

/** A nodemailer transport to a gateway's submission port (STARTTLS, AUTH PLAIN). */
export function submitter(t: TwoGateways, g: GatewayHandle, user: string, password = PASSWORD): nodemailer.Transporter {
  return nodemailer.createTransport({
    host: '127.0.0.1', port: portsOf(g)['smtpSubmission']!, secure: false, requireTLS: true,
    auth: { user, pass: password }, tls: { ca: caPem(t), servername: 'localhost' },
  });
}

/** Polls until `fn` returns a truthy value or the time runs out. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
