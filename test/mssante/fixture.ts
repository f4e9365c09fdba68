/**
 * One medgate gateway (cabinet-antony) and a Postfix standing in for the lab's MSSanté operator
 * (labo-biotest, whose biologist is in the directory and on the whitelist, with no key), both with
 * certificates from the gateway's test CA. `mssante.routes` points labo-biotest at Postfix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { CLI, runCli, startServe, tempDir, writeGatewayConfig, type DemoPracticeAccount, type ServeProcess } from '../helpers/gateway.js';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';
import { freePorts } from '../helpers/ports.js';
import { startPostfix, type PostfixInstance } from '../helpers/postfix.js';

export const DOMAIN = 'cabinet-antony.medgate.test';
export const LAB_DOMAIN = 'labo-biotest.medgate.test';
/** `mssante.productReference` of the gateway under test: written as X-MSS-NIL on what MSSanté mailboxes receive. */
export const PRODUCT_REFERENCE = 'MEDGATE-TEST-0001';
export const PAUL = `paul.demo@${DOMAIN}`;
export const JL = `jl.letest@${DOMAIN}`;
export const ANNE = `anne.biologiste@${LAB_DOMAIN}`;
/** Whitelisted, in the directory, no key; its route leads to the lab's Postfix, whose certificate does not name it. */
export const IMAGING_DOMAIN = 'imagerie-bourg.medgate.test';
export const MARC = `marc.radio@${IMAGING_DOMAIN}`;
export const PASSWORD = 'correct horse battery';

export interface MssanteSetup {
  root: string;
  dir: string;
  config: string;
  postfix: PostfixInstance;
  /** medgate's relay port (Postfix's relayhost for mail to the practice's domain). */
  relayPort: number;
  serve?: ServeProcess;
  caPem: string;
  cli(...args: string[]): ReturnType<typeof runCli>;
  /** Where `needle` is at rest: files of the data directory, and on PostgreSQL the database's rows and blob chunks. */
  atRest(needle: string): Promise<string[]>;
  /** Rewrites the config (policy) and restarts `medgate serve`. */
  restart(outbound: 'allow' | 'deny'): Promise<void>;
  /** Starts `medgate serve` again on the same data (killing it first if it runs), with `env` added (a crash point). */
  serveAgain(env?: NodeJS.ProcessEnv): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * `postgresUrl`: the gateway's store on that PostgreSQL database instead of SQLite; `extra`: more
 * config sections; `accounts`: more local accounts (a record server).
 */
export async function setupMssante(outbound: 'allow' | 'deny' = 'allow', opts: { postgresUrl?: string; extra?: Record<string, unknown>; accounts?: DemoPracticeAccount[] } = {}): Promise<MssanteSetup> {
  const root = tempDir('medgate-mssante-');
  const dir = path.join(root, 'gw');
  fs.mkdirSync(dir);
  // Both ports chosen up front: the gateway's routes name Postfix's port, Postfix's relayhost names
  // the gateway's relay port, so the two can start at the same time.
  const [relayPort, postfixPort] = await freePorts(2);
  const routes = { [LAB_DOMAIN]: `127.0.0.1:${postfixPort}`, [IMAGING_DOMAIN]: `127.0.0.1:${postfixPort}` };
  const extra = (policy: 'allow' | 'deny'): Record<string, unknown> => ({
    // A short lease: after a kill -9 the items the dead process had claimed are taken over soon.
    queue: { pollMs: 100, retryBaseSeconds: 0.2, retryMaxSeconds: 1, delayNoticeAfterMinutes: 60, maxLifetimeHours: 1, leaseSeconds: 3 },
    mssante: { outbound: policy, routes, productReference: PRODUCT_REFERENCE },
    ...(opts.postgresUrl ? { store: { driver: 'postgres', postgres: { url: opts.postgresUrl } } } : {}),
    ...opts.extra,
  });
  const write = (policy: 'allow' | 'deny'): string => writeGatewayConfig(dir, { domain: DOMAIN, ports: { smtpRelay: relayPort }, extra: extra(policy) });
  // Set up as `medgate init`, the directory and whitelist imports and `user add` would, through the
  // services those commands call (one process start instead of one per command); then served by a
  // real `medgate serve`. The store is the caller's (its PostgreSQL database when given).
  await prepareForServe({
    store: 'sqlite', dir, domain: DOMAIN, ports: { smtpRelay: relayPort }, extra: extra(outbound),
    accounts: [
      { address: PAUL, kind: 'person', password: PASSWORD, rpps: '10100000017' },
      { address: JL, kind: 'person', password: PASSWORD, rpps: '10100000041' },
      ...(opts.accounts ?? []),
    ],
  });
  const config = write(outbound);
  // Postfix's client (mail for the practice) goes to medgate's relay port; `localhost` is a name
  // medgate's certificate carries (Postfix matches names, not IP addresses).
  const started = await Promise.allSettled([
    startPostfix({
      caDir: path.join(dir, 'certs'), domain: LAB_DOMAIN, mailboxes: ['anne.biologiste'],
      relayhost: `[localhost]:${relayPort}`, relayDomains: [DOMAIN], port: postfixPort,
    }),
    startServe(config),
  ] as const);
  if (started[0].status === 'rejected' || started[1].status === 'rejected') {
    // One started without the other: stop it, leave nothing behind, report why.
    if (started[0].status === 'fulfilled') started[0].value.stop();
    if (started[1].status === 'fulfilled') await started[1].value.stop('SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
    throw started[0].status === 'rejected' ? started[0].reason : (started[1] as PromiseRejectedResult).reason;
  }
  const postfix = started[0].value;
  const serve = started[1].value;
  const s: MssanteSetup = {
    root, dir, config, postfix, relayPort,
    caPem: fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8'),
    cli: (...args) => runCli([...args, '--config', config]),
    async atRest(needle) {
      const hits = grepDir(path.join(dir, 'data'), needle);
      if (opts.postgresUrl) hits.push(...await grepDatabase(opts.postgresUrl, needle));
      return hits;
    },
    async restart(policy) {
      await s.serve?.stop();
      write(policy);
      s.serve = await startServe(config);
    },
    async serveAgain(env) {
      await s.serve?.stop('SIGKILL');
      s.serve = await startServe(config, 90_000, { file: process.execPath, args: [...SERVE_NODE_FLAGS, CLI], ...(env ? { env } : {}) });
    },
    async cleanup() {
      if (s.serve) await s.serve.stop('SIGKILL').catch(() => undefined);
      postfix.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  s.serve = serve;
  return s;
}

export function submitter(s: MssanteSetup, user = PAUL): nodemailer.Transporter {
  return nodemailer.createTransport({
    host: '127.0.0.1', port: s.serve!.ports.smtpSubmission!, secure: false, requireTLS: true,
    auth: { user, pass: PASSWORD }, tls: { ca: s.caPem, servername: 'localhost' },
  });
}

/** Every message of a mailbox, decrypted by the gateway for its owner (IMAP, as Outlook reads it). */
export async function readMailbox(s: MssanteSetup, user: string, mailbox: string): Promise<string[]> {
  const c = new ImapFlow({
    host: '127.0.0.1', port: s.serve!.ports.imapTls!, secure: true, logger: false,
    tls: { ca: s.caPem, servername: 'localhost' }, auth: { user, pass: PASSWORD },
  });
  await c.connect();
  try {
    await c.mailboxOpen(mailbox);
    const out: string[] = [];
    for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!.toString('utf8'));
    return out;
  } catch (err) {
    if (/Nothing to fetch|Invalid messageset/i.test(String((err as Error).message))) return [];
    throw err;
  } finally {
    await c.logout().catch(() => undefined);
  }
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether `needle` occurs in any file under `dir` (the data directory: store, blobs, spool). */
export function grepDir(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

/** Tables whose rows (as text) contain `needle`, and blob chunks whose bytes do. */
async function grepDatabase(url: string, needle: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const hits: string[] = [];
    const tables = await c.query<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    for (const { name } of tables.rows) {
      const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${name}" t WHERE strpos(t::text, $1) > 0`, [needle]);
      if (Number(r.rows[0]!.n) > 0) hits.push(`table ${name}`);
    }
    const chunks = await c.query<{ n: string }>(`SELECT count(*) AS n FROM blob_chunks WHERE position(convert_to($1, 'UTF8') IN data) > 0`, [needle]);
    if (Number(chunks.rows[0]!.n) > 0) hits.push('blob_chunks');
    return hits;
  } finally {
    await c.end();
  }
}
