/**
 * docker/entrypoint.sh and the sequence docker/compose.yaml runs — `init` once, then `serve` on
 * two nodes sharing the database and the keys volume — run here outside Docker (no engine on
 * this machine) against a real PostgreSQL, with docker/medgate.yaml changed only in its paths
 * and ports. The image itself is not built by this test.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServe, tempDir, type ServeProcess } from '../helpers/gateway.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const available = testPostgres();
if (!available) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const ENTRYPOINT = path.join(ROOT, 'docker', 'entrypoint.sh');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(ENTRYPOINT, args, { env: { ...process.env, ...env }, timeout: 180_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe.skipIf(!available)('the container start-up sequence (docker/entrypoint.sh), outside Docker', () => {
  let root: string;
  let url: string;
  let drop: () => Promise<void>;
  const nodes: ServeProcess[] = [];

  /** docker/medgate.yaml as compose uses it, with this machine's paths and free ports. */
  const nodeConfig = (name: string, keysDir: string): string => {
    const base = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker', 'medgate.yaml'), 'utf8')) as Record<string, any>;
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    const certs = path.join(keysDir, 'certs');
    const config = {
      ...base,
      dataDir: path.join(dir, 'data'),
      keysDir,
      pki: { caDir: certs, trustAnchors: [path.join(certs, 'ca.pem')], crls: [path.join(certs, 'crl.pem')] },
      listen: Object.fromEntries(Object.keys(base.listen).map((k) => [k, k === 'host' ? '127.0.0.1' : 0])),
      console: { ...base.console, recordServerPasswordFile: path.join(ROOT, 'config', 'demo', 'rmp.password') },
      demo: { ...base.demo, file: path.join(ROOT, 'config', 'demo.yaml') },
      // Test speed: a smaller KDF for the demo accounts (production keeps 16).
      security: { ...base.security, kdfMemoryExponent: 10 },
    };
    const file = path.join(dir, 'medgate.yaml');
    fs.writeFileSync(file, YAML.stringify(config));
    return file;
  };

  beforeAll(async () => {
    root = tempDir('medgate-docker-');
    ({ url, drop } = await createTestDatabase('docker'));
  });

  afterAll(async () => {
    for (const n of nodes) await n.stop('SIGKILL').catch(() => undefined);
    await drop?.();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('a node started before init refuses, saying to run init: nodes never make their own keys', async () => {
    const config = nodeConfig('early', path.join(root, 'empty-keys'));
    const r = await run(['serve'], { MEDGATE_HOME: ROOT, MEDGATE_CONFIG: config, MEDGATE_DATABASE_URL: url });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/gateway keys are missing .*run `medgate init` once/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('init, then serve on two nodes sharing the database and the keys; both healthy, metrics per node', async () => {
    const keys = path.join(root, 'keys');
    const config1 = nodeConfig('node1', keys);
    const config2 = nodeConfig('node2', keys);
    const env = { MEDGATE_HOME: ROOT, MEDGATE_DATABASE_URL: url };
    const init = await run(['init'], { ...env, MEDGATE_CONFIG: config1 });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/answers/);
    expect(init.stdout).toMatch(/data directory ready/);
    for (const f of ['keys/filing-key.asc', 'keys/custody-key.asc', 'keys/postmaster-key.asc', 'keys/filing-data.key', 'tls/gateway.crt.pem', 'certs/ca.pem']) {
      expect(fs.existsSync(path.join(keys, f)), f).toBe(true);
    }
    expect(fs.statSync(path.join(keys, 'keys', 'filing-key.asc')).mode & 0o777).toBe(0o600);
    // Run again (a container restarted): nothing is made twice, nothing breaks.
    const again = await run(['init'], { ...env, MEDGATE_CONFIG: config1 });
    expect(again.code, again.stderr).toBe(0);

    for (const [i, config] of [config1, config2].entries()) {
      nodes.push(await startServe(config, 120_000, { file: ENTRYPOINT, args: [], env: { ...env, MEDGATE_CONFIG: config, MEDGATE_NODE_ID: `node${i + 1}` } }));
    }
    for (const n of nodes) {
      expect(n.logs.join('\n')).toMatch(/"store":"postgres"/);
      // The entrypoint starts node with serve's flags (src/runtime/node-flags.ts): no warning of a missing one.
      expect(n.logs.join('\n')).toMatch(/"gc":"single-threaded"/);
      expect(n.logs.join('\n')).not.toMatch(/"missing":/);
      const health = await new Promise<number>((resolve) => {
        execFile(process.execPath, [path.join(ROOT, 'docker', 'healthcheck.mjs')], { env: { ...process.env, MEDGATE_HEALTH_URL: `http://127.0.0.1:${n.ports.http}/healthz` } }, (err) => resolve(err ? 1 : 0));
      });
      expect(health).toBe(0);
      const metrics = await (await fetch(`http://127.0.0.1:${n.ports.http}/metrics`)).text();
      expect(metrics).toMatch(/medgate_store_pool_connections\{state="max"\} \d+/);
      expect(metrics).toMatch(/medgate_queue_recipients\{status="pending"\} \d+/);
    }
    const ids = nodes.map((n) => n.logs.map((l) => /"node":"([^"]+)"/.exec(l)?.[1]).find(Boolean));
    expect(ids).toEqual(['node1', 'node2']);
  }, 300_000);

  it('a wrong database password is one clear line from the entrypoint, not a stack trace', async () => {
    const config = nodeConfig('badpw', path.join(root, 'keys'));
    const bad = url.replace(/:\/\/([^:]+):[^@]+@/, '://$1:wrong@');
    const r = await run(['init'], { MEDGATE_HOME: ROOT, MEDGATE_CONFIG: config, MEDGATE_DATABASE_URL: bad, MEDGATE_DB_WAIT_SECONDS: '5' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refused the password for user "postgres"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
