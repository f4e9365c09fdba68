/**
 * A throw-away PostgreSQL cluster for tests and benches: Debian's server binaries, `initdb` in a
 * temporary directory, listening on a loopback port only, password (SCRAM) authentication. As
 * root (CI), the server runs as the `postgres` system user, since PostgreSQL refuses to run as root.
 *
 * Binaries are found through MEDGATE_PG_BIN, then /usr/lib/postgresql/<newest>/bin, then PATH.
 * Nothing here installs PostgreSQL: `.ci/run` does (apt-get install postgresql).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

export const PG_NOT_FOUND_BANNER =
  'PostgreSQL NOT FOUND: the PostgreSQL store tests are SKIPPED (install Debian\'s postgresql, or set MEDGATE_PG_BIN)';

export function locatePostgres(env: NodeJS.ProcessEnv = process.env): { ok: true; bin: string } | { ok: false; reason: string } {
  const candidates: string[] = [];
  if (env['MEDGATE_PG_BIN']) candidates.push(env['MEDGATE_PG_BIN']);
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    for (const v of fs.readdirSync(debian).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(debian, v, 'bin'));
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) candidates.push(path.dirname(fs.realpathSync(which.stdout.trim())));
  for (const bin of candidates) {
    if (fs.existsSync(path.join(bin, 'initdb')) && fs.existsSync(path.join(bin, 'postgres'))) return { ok: true, bin };
  }
  return { ok: false, reason: `no initdb/postgres found (looked in ${candidates.join(', ') || 'nothing'})` };
}

export interface PgClusterOptions {
  /** Durable commits (benches compare against SQLite with synchronous=FULL); tests run with fsync off. */
  durable?: boolean;
  maxConnections?: number;
}

export class PgCluster {
  private constructor(
    readonly bin: string,
    readonly dir: string,
    readonly port: number,
    readonly password: string,
    private readonly runAs: string | undefined,
  ) {}

  /** The cluster another process started (the run's, from MEDGATE_TEST_PG). */
  static attach(info: { port: number; password: string; bin: string; dir: string }): PgCluster {
    return new PgCluster(info.bin, info.dir, info.port, info.password, process.getuid?.() === 0 ? 'postgres' : undefined);
  }

  /** Superuser URL of database `db`. */
  url(db = 'postgres', user = 'postgres', password = this.password): string {
    return `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${db}`;
  }

  private static run(runAs: string | undefined, cmd: string, args: string[]): void {
    const [file, argv] = runAs ? ['runuser', ['-u', runAs, '--', cmd, ...args]] : [cmd, args];
    execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  static async start(bin: string, opts: PgClusterOptions = {}): Promise<PgCluster> {
    const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-pg-'));
    const password = randomBytes(12).toString('hex');
    const pwfile = path.join(dir, 'pw');
    fs.writeFileSync(pwfile, password, { mode: 0o600 });
    if (runAs) execFileSync('chown', ['-R', `${runAs}:`, dir]);
    const data = path.join(dir, 'data');
    PgCluster.run(runAs, path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-locale', '--no-sync']);
    fs.rmSync(pwfile);
    const port = await freePort();
    const settings = [
      `listen_addresses = '127.0.0.1'`, `port = ${port}`, `unix_socket_directories = '${dir}'`,
      `max_connections = ${opts.maxConnections ?? 200}`, `shared_buffers = '128MB'`,
      ...(opts.durable ? [] : ['fsync = off', 'synchronous_commit = off', 'full_page_writes = off']),
    ];
    fs.appendFileSync(path.join(data, 'postgresql.conf'), `\n${settings.join('\n')}\n`);
    const cluster = new PgCluster(bin, dir, port, password, runAs);
    cluster.pgCtl(['start', '-w', '-t', '60', '-l', path.join(dir, 'server.log')]);
    return cluster;
  }

  pgCtl(args: string[]): void {
    PgCluster.run(this.runAs, path.join(this.bin, 'pg_ctl'), ['-D', path.join(this.dir, 'data'), ...args]);
  }

  /** Stops the server (tests of a lost database); `start()` brings it back on the same port. */
  stopServer(mode: 'fast' | 'immediate' = 'fast'): void {
    this.pgCtl(['stop', '-m', mode, '-w']);
  }

  startServer(): void {
    this.pgCtl(['start', '-w', '-t', '60', '-l', path.join(this.dir, 'server.log')]);
  }

  /** A new empty database, dropped by the returned function. */
  async createDatabase(prefix = 'medgate'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
    const name = `${prefix}_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: this.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    return {
      name,
      url: this.url(name),
      drop: async () => {
        const c = new pg.Client({ connectionString: this.url() });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await c.end();
        }
      },
    };
  }

  async destroy(): Promise<void> {
    try {
      this.stopServer('immediate');
    } catch {
      // Already stopped.
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The cluster started by test/setup/postgres.ts for this run, or undefined (then: skip loudly). */
export function testPostgres(): { port: number; password: string; bin: string; dir: string } | undefined {
  const raw = process.env['MEDGATE_TEST_PG'];
  return raw ? (JSON.parse(raw) as { port: number; password: string; bin: string; dir: string }) : undefined;
}

/** A fresh database on the run's cluster (the caller drops it). */
export async function createTestDatabase(prefix = 'medgate'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const info = testPostgres();
  if (!info) throw new Error(PG_NOT_FOUND_BANNER);
  return PgCluster.attach(info).createDatabase(prefix);
}
