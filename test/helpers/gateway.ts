import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli.js');
export const SAMPLES = path.resolve(ROOT, '..', 'shared', 'samples');
/** The project's own copies of the synthetic samples (the shared ones may be absent on a user's machine). */
export const DEMO_SAMPLES = path.join(ROOT, 'config', 'demo');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `medgate` command. */
export function runCli(args: string[], opts: { cwd?: string; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 120_000,
    }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export function tempDir(prefix = 'medgate-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface GatewayConfigOptions {
  domain?: string;
  demo?: boolean;
  ports?: Partial<Record<'smtpSubmission' | 'smtpSubmissionTls' | 'smtpRelay' | 'imap' | 'imapTls' | 'http', number>>;
  extra?: Record<string, unknown>;
}

/** Writes a config for a throw-away gateway in `dir` (its own data dir and test CA) and returns its path. */
export function writeGatewayConfig(dir: string, o: GatewayConfigOptions = {}): string {
  const config = {
    domain: o.domain ?? 'cabinet-antony.medgate.test',
    hostname: 'localhost',
    dataDir: './data',
    store: { driver: 'sqlite', sqlite: { file: 'medgate.db' } },
    pki: { caDir: './certs', trustAnchors: ['./certs/ca.pem'], crls: ['./certs/crl.pem'] },
    listen: {
      host: '127.0.0.1',
      smtpSubmission: 0, smtpSubmissionTls: 0, smtpRelay: 0, imap: 0, imapTls: 0, http: 0, api: 0,
      ...o.ports,
    },
    // Small KDF memory keeps key wrapping fast in tests; production uses 16 (64 MiB).
    security: { kdfMemoryExponent: 10, minPasswordLength: 12 },
    demo: o.demo ? { enabled: true, file: path.join(ROOT, 'config', 'demo.yaml') } : { enabled: false },
    log: { level: 'info' },
    ...o.extra,
  };
  const file = path.join(dir, 'medgate.yaml');
  fs.writeFileSync(file, YAML.stringify(config));
  return file;
}

export interface ServeProcess {
  child: ChildProcess;
  ports: Record<string, number>;
  logs: string[];
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How `serve` is launched: by default as `npm start` does, node with the recommended flags. */
export interface ServeLaunch {
  file: string;
  args: string[];
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/** Starts `medgate serve` and waits for its "medgate started" log line, which carries the bound ports. */
export function startServe(configFile: string, timeoutMs = 90_000, launch: ServeLaunch = { file: process.execPath, args: [...SERVE_NODE_FLAGS, CLI] }): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(launch.file, [...launch.args, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } });
    const logs: string[] = [];
    const stderr: string[] = [];
    let buf = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`serve did not start:\n${logs.join('\n')}\n${stderr.join('')}`)); }, timeoutMs);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        logs.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; ports?: Record<string, number> };
          if (rec.msg === 'medgate started') {
            clearTimeout(timer);
            resolve({
              child, ports: rec.ports ?? {}, logs, stderr,
              stop: async (signal = 'SIGTERM') => { child.kill(signal); return exited; },
            });
          }
        } catch { /* not JSON: ignore */ }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}:\n${logs.join('\n')}\n${stderr.join('')}`)); });
  });
}

export interface DemoPracticeAccount {
  address: string;
  kind: 'person' | 'application' | 'rmp';
  password: string;
  rpps?: string;
}

/**
 * Prepares a gateway's data directory through the built CLI, as an operator would: init, the
 * synthetic ANS directory and whitelist, then the given accounts. Throws with the CLI's stderr.
 */
export async function prepareGateway(configFile: string, accounts: DemoPracticeAccount[], opts: { whitelist?: boolean } = {}): Promise<void> {
  const steps: string[][] = [
    ['init'],
    ['directory', 'import', path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt')],
    ...(opts.whitelist === false ? [] : [['directory', 'whitelist', 'import', path.join(DEMO_SAMPLES, 'liste-blanche.xml')]]),
    ...accounts.map((a) => ['user', 'add', a.address, '--kind', a.kind, '--password', a.password, ...(a.rpps ? ['--rpps', a.rpps] : [])]),
  ];
  for (const args of steps) {
    const r = await runCli([...args, '--config', configFile]);
    if (r.code !== 0) throw new Error(`medgate ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  }
}
