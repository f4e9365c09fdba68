/**
 * Two gateways for the relay, queue and crash tests: cabinet-antony (A) and cardio-sceaux (B), one
 * shared test CA, peers pointing at each other's relay port on 127.0.0.1, directory exports
 * exchanged so each knows the other's users, keys and filing key.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { DEMO_SAMPLES, runCli, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
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
  serve?: ServeProcess;
  cli(...args: string[]): ReturnType<typeof runCli>;
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
  queue?: Record<string, number>;
  /** Extra accounts (address → RPPS) per gateway. */
  extraUsers?: { a?: string[][]; b?: string[][] };
  /** Application or record-server accounts per gateway (created before the directory exchange). */
  serviceAccounts?: { a?: Array<{ address: string; kind: 'application' | 'rmp' }>; b?: Array<{ address: string; kind: 'application' | 'rmp' }> };
  /** Extra top-level config per gateway (e.g. `filing`). */
  config?: { a?: Record<string, unknown>; b?: Record<string, unknown> };
  /** Write each account's certificate and key to `<root>/account-certs/<address>.{crt,key}.pem` (S/MIME tests). */
  certOut?: boolean;
}

/** Where `certOut` put an account's certificate and key. */
export function accountCert(t: { root: string }, address: string): { cert: string; key: string } {
  const base = path.join(t.root, 'account-certs', address);
  return { cert: `${base}.crt.pem`, key: `${base}.key.pem` };
}

export async function setupTwoGateways(o: TwoGatewayOptions = {}): Promise<TwoGateways> {
  const root = tempDir('medgate-relay-');
  const caDir = path.join(root, 'ca');
  const [relayA, relayB] = await freePorts(2);
  const queue = { pollMs: 100, retryBaseSeconds: 0.2, retryMaxSeconds: 1, delayNoticeAfterMinutes: 60, maxLifetimeHours: 1, ...o.queue };
  const make = (name: string, domain: string, relayPort: number, peerDomain: string, peerPort: number, more: Record<string, unknown> = {}): GatewayHandle => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    const config = writeGatewayConfig(dir, {
      domain,
      ports: { smtpRelay: relayPort },
      extra: {
        pki: { caDir, trustAnchors: [path.join(caDir, 'ca.pem')], crls: [path.join(caDir, 'crl.pem')] },
        peers: [{ domain: peerDomain, host: '127.0.0.1', port: peerPort }],
        queue,
        limits: { maxMessageBytes: 40 * 1024 * 1024 },
        ...more,
      },
    });
    return { domain, dir, config, relayPort, cli: (...args: string[]) => runCli([...args, '--config', config]) };
  };
  const a = make('a', A_DOMAIN, relayA!, B_DOMAIN, relayB!, o.config?.a);
  const b = make('b', B_DOMAIN, relayB!, A_DOMAIN, relayA!, o.config?.b);
  await must(a.cli('pki', 'init'), 'pki init');
  const prepare = async (g: GatewayHandle, users: string[][], services: Array<{ address: string; kind: string }> = []): Promise<void> => {
    await must(g.cli('init'), 'init');
    await must(g.cli('directory', 'import', path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt')), 'ANS import');
    await must(g.cli('directory', 'whitelist', 'import', path.join(DEMO_SAMPLES, 'liste-blanche.xml')), 'whitelist import');
    const certOut = o.certOut ? ['--cert-out', path.join(root, 'account-certs')] : [];
    for (const [address, rpps] of users) await must(g.cli('user', 'add', address!, '--kind', 'person', '--rpps', rpps!, '--password', PASSWORD, ...certOut), `user add ${address}`);
    for (const s of services) await must(g.cli('user', 'add', s.address, '--kind', s.kind, '--password', PASSWORD, ...certOut), `user add ${s.address}`);
  };
  await Promise.all([
    prepare(a, [[PAUL, '10100000017'], ...(o.extraUsers?.a ?? [])], o.serviceAccounts?.a),
    prepare(b, [[CLAIRE, '10100000025'], ...(o.extraUsers?.b ?? [])], o.serviceAccounts?.b),
  ]);
  const exportA = path.join(root, 'export-a.json');
  const exportB = path.join(root, 'export-b.json');
  await Promise.all([must(a.cli('directory', 'export', '--out', exportA), 'export'), must(b.cli('directory', 'export', '--out', exportB), 'export')]);
  await Promise.all([must(a.cli('directory', 'peer', 'import', exportB), 'peer import'), must(b.cli('directory', 'peer', 'import', exportA), 'peer import')]);
  return {
    root, caDir, a, b,
    async cleanup() {
      await Promise.all([a, b].map(async (g) => { if (g.serve) await g.serve.stop('SIGKILL').catch(() => undefined); }));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

export async function serve(g: GatewayHandle): Promise<ServeProcess> {
  g.serve = await startServe(g.config);
  return g.serve;
}

/** Opens the gateway's SQLite store read-only (WAL lets us read while it serves). */
export function openDb(g: GatewayHandle): Database.Database {
  return new Database(path.join(g.dir, 'data', 'medgate.db'), { readonly: true, fileMustExist: true });
}

/** Where a gateway keeps a large sealed message (blobs.external = 1). */
export function blobFile(g: GatewayHandle, blobId: string): string {
  return path.join(g.dir, 'data', 'blobs', blobId.slice(0, 2), blobId);
}

/** The sealed blobs in an owner's mailbox. */
export function mailboxBlobs(g: GatewayHandle, owner: string, mailbox = 'INBOX'): Buffer[] {
  const db = openDb(g);
  try {
    const rows = db.prepare(`SELECT b.id AS id, b.data AS data, b.external AS external FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id
      JOIN blobs b ON b.id = m.blob_id WHERE x.owner = ? AND x.name = ? ORDER BY m.uid`).all(owner, mailbox) as { id: string; data: Buffer; external: number }[];
    // Large messages are files beside the database (src/store/files).
    return rows.map((r) => (r.external ? fs.readFileSync(blobFile(g, r.id)) : r.data));
  } finally {
    db.close();
  }
}

export function caPem(t: TwoGateways): string {
  return fs.readFileSync(path.join(t.caDir, 'ca.pem'), 'utf8');
}

/** A nodemailer transport to a gateway's submission port (STARTTLS, AUTH PLAIN). */
export function submitter(t: TwoGateways, g: GatewayHandle, user: string, password = PASSWORD): nodemailer.Transporter {
  return nodemailer.createTransport({
    host: '127.0.0.1', port: g.serve!.ports.smtpSubmission!, secure: false, requireTLS: true,
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
