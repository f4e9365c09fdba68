/**
 * Limits of the record-server HTTPS API on a real `medgate serve`, with curl and the record
 * servers' client certificates (as `user add --cert-out` writes them): a per-certificate rate limit
 * (429 + Retry-After, audited once per episode, one certificate never drains another's), and patient
 * searches of at least `api.minSearchLetters` letters. A spawned serve, restarted on an edited
 * config file, because what is tested is the configuration as an operator writes it; the data is
 * prepared through the services `medgate init` and `user add` call, and the audit trail read
 * through the store.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { openStore } from '../../src/store/index.js';
import type { AuditRecord } from '../../src/store/types.js';
import { startServe, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const RMP = `rmp@${DOMAIN}`;
const RMP2 = `rmp2@${DOMAIN}`;
const PW = 'record server secret 0';
const BURST = 5;

interface Answer { status: number; headers: Record<string, string>; body: Record<string, unknown> | unknown[] }

/** curl with the response headers (`-D -` before the body, `-w` the status last). */
function curl(args: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', '-D', '-', '-w', '\n%{http_code}', ...args], (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${stderr}`));
      const split = stdout.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of stdout.slice(0, split).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      const rest = stdout.slice(split + 4);
      const i = rest.lastIndexOf('\n');
      resolve({ status: Number(rest.slice(i + 1)), headers, body: JSON.parse(rest.slice(0, i)) as Answer['body'] });
    });
  });
}

describe('record-server HTTPS API limits (api.rateLimit, api.minSearchLetters)', () => {
  let dir: string;
  let config: string;
  let serve: ServeProcess;
  let prepared: Awaited<ReturnType<typeof prepareForServe>> | undefined;
  const as = (account: string, p: string) => curl(['--cacert', prepared!.caFile,
    '--cert', prepared!.accounts[account]!.certFile, '--key', prepared!.accounts[account]!.keyFile,
    `https://localhost:${serve.ports.api}${p}`]);
  const writeConfig = (api: Record<string, unknown>) => writeGatewayConfig(dir, { domain: DOMAIN, extra: { api } });
  /** What `medgate audit list` prints, through a store opened beside the serving process. */
  const auditRecords = async (): Promise<AuditRecord[]> => {
    const store = await openStore(loadConfig(config), { nodeId: 'test-reader' });
    try { return await store.audit.list(1, 100_000); } finally { await store.close(); }
  };

  beforeAll(async () => {
    // 6 per minute: one token every 10 s, so the burst cannot refill while the test runs.
    prepared = await prepareForServe({
      store: 'sqlite', domain: DOMAIN, whitelist: false, extra: { api: { rateLimit: { requestsPerMinute: 6, burst: BURST } } },
      accounts: [RMP, RMP2].map((address) => ({ address, kind: 'rmp' as const, password: PW })),
    });
    dir = prepared.dir;
    config = prepared.configFile;
    serve = await startServe(config);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    await prepared?.dispose();
  });

  it('serves the burst, then answers 429 with Retry-After to that certificate only; audited once', async () => {
    for (let i = 0; i < BURST; i++) expect((await as(RMP, '/api/v1/items?since=0')).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const refused = await as(RMP, '/api/v1/patients?search=dupont');
      expect(refused.status).toBe(429);
      const retry = Number(refused.headers['retry-after']);
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(10);
      expect(refused.body).toMatchObject({ code: 'API_RATE_LIMITED' });
    }
    // Another record server's certificate has its own bucket.
    expect((await as(RMP2, '/api/v1/items?since=0')).status).toBe(200);

    const audit = await auditRecords();
    const limited = audit.filter((r) => r.action === 'api.rate-limit');
    expect(limited).toHaveLength(1);
    expect(limited[0]).toMatchObject({ actor: RMP, outcome: 'refused', details: { reason: 'rate-limited', path: '/api/v1/patients' } });
    expect(JSON.stringify(limited)).not.toMatch(/dupont/i);
    // Filing reads of the refused requests were not served (5 + 1 served in all).
    expect(audit.filter((r) => r.action === 'filing.api' && r.outcome === 'ok')).toHaveLength(BURST + 1);
  }, 60_000);

  it('refuses a patient search of fewer than 2 letters (400), accepts 2; the setting can lower it', async () => {
    await serve.stop();
    config = writeConfig({ rateLimit: { requestsPerMinute: 0, burst: 1 } });
    serve = await startServe(config);
    for (const q of ['d', 'D.', 'é', '1', '-']) {
      const r = await as(RMP, `/api/v1/patients?search=${encodeURIComponent(q)}`);
      expect(r.status, q).toBe(400);
      expect(r.body, q).toMatchObject({ code: 'API_SEARCH_TOO_SHORT', error: 'query parameter "search" needs at least 2 letters' });
    }
    expect((await as(RMP, '/api/v1/patients?search=du')).status).toBe(200);
    // requestsPerMinute 0: no limit, far beyond any burst.
    for (let i = 0; i < 12; i++) expect((await as(RMP, '/api/v1/items?since=0')).status).toBe(200);

    await serve.stop();
    const raw = YAML.parse(fs.readFileSync(config, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(config, YAML.stringify({ ...raw, api: { minSearchLetters: 1 } }));
    serve = await startServe(config);
    expect((await as(RMP, '/api/v1/patients?search=d')).status).toBe(200);
  }, 120_000);
});
