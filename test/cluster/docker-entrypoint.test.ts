/**
 * docker/entrypoint.sh and the sequence docker/compose.yaml runs — `init` once and `serve` on two
 * nodes sharing the database and the keys volume, all started at the same moment (compose does
 * not order them: podman-compose ignores depends_on conditions) — run here outside Docker (no
 * engine on this machine) against a real PostgreSQL, with docker/medgate.yaml changed only in its
 * paths and ports. The image itself is not built by this test.
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

  it('compose.yaml runs this sequence: sysctls in list form, init and the nodes not ordered by the compose tool', () => {
    const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker', 'compose.yaml'), 'utf8'), { merge: true }) as Record<string, any>;
    // The map form is refused by podman-compose ("sysctl values must be in the form of KEY=VALUE").
    expect(compose['x-node'].sysctls).toEqual(['net.ipv4.ip_unprivileged_port_start=0']);
    const services = compose.services as Record<string, { command?: string[]; depends_on?: unknown; sysctls?: unknown }>;
    expect(services.init!.command).toEqual(['init']);
    for (const node of ['node1', 'node2']) {
      expect(services[node]!.command).toEqual(['serve']);
      expect(services[node]!.sysctls).toEqual(['net.ipv4.ip_unprivileged_port_start=0']);
      // No wait on init's completion: the lock and the node's own wait for the keys do that.
      expect(services[node]!.depends_on).toEqual(['postgres']);
    }
  });

  it('a node whose keys never come (init never ran) waits MEDGATE_INIT_WAIT_SECONDS, then refuses, saying to run init', async () => {
    const config = nodeConfig('early', path.join(root, 'empty-keys'));
    const started = Date.now();
    const r = await run(['serve'], { MEDGATE_HOME: ROOT, MEDGATE_CONFIG: config, MEDGATE_DATABASE_URL: url, MEDGATE_INIT_WAIT_SECONDS: '1' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/waiting for `medgate init` to create the gateway keys/);
    expect(r.stderr).toMatch(/gateway keys are missing .*run `medgate init` once.*\[CLUSTER_NOT_INITIALISED\]/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);

  it('init and serve on two nodes started together, sharing the database and the keys; both healthy, metrics per node', async () => {
    const keys = path.join(root, 'keys');
    const config1 = nodeConfig('node1', keys);
    const config2 = nodeConfig('node2', keys);
    const initConfig = nodeConfig('init', keys);
    const env = { MEDGATE_HOME: ROOT, MEDGATE_DATABASE_URL: url };
    const serve = (config: string, i: number) => startServe(config, 120_000, { file: ENTRYPOINT, args: [], env: { ...env, MEDGATE_CONFIG: config, MEDGATE_NODE_ID: `node${i + 1}` } });
    const [init, ...started] = await Promise.allSettled([run(['init'], { ...env, MEDGATE_CONFIG: initConfig }), serve(config1, 0), serve(config2, 1)]);
    for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
    for (const s of started) expect(s.status === 'rejected' ? String(s.reason) : 'started').toBe('started');
    const initRun = (init as PromiseFulfilledResult<Awaited<ReturnType<typeof run>>>).value;
    expect(initRun.code, initRun.stderr).toBe(0);
    expect(initRun.stdout).toMatch(/answers/);
    expect(initRun.stdout).toMatch(/data directory ready/);
    for (const f of ['keys/filing-key.asc', 'keys/custody-key.asc', 'keys/postmaster-key.asc', 'keys/filing-data.key', 'tls/gateway.crt.pem', 'certs/ca.pem']) {
      expect(fs.existsSync(path.join(keys, f)), f).toBe(true);
    }
    expect(fs.statSync(path.join(keys, 'keys', 'filing-key.asc')).mode & 0o777).toBe(0o600);
    // Run again (a container restarted): nothing is made twice, nothing breaks.
    const again = await run(['init'], { ...env, MEDGATE_CONFIG: initConfig });
    expect(again.code, again.stderr).toBe(0);

    for (const n of nodes) {
      expect(n.logs.join('\n')).toMatch(/"store":"postgres"/);
      // The entrypoint starts node with serve's flags (src/runtime/node-flags.ts): no warning of a missing one.
      expect(n.logs.join('\n')).toMatch(/"gc":"single-threaded"/);
      // (Its warning names the flags; a node that waited for init also logs the keys `missing` then.)
      expect(n.logs.join('\n')).not.toMatch(/node was started without/);
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
    expect(r.code).toBe(77); // src/errors.ts STORE_CONNECT_FAILURES: auth
    expect(r.stderr).toMatch(/refused user "postgres" for database .*\[STORE_AUTH_FAILED\]/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
