/**
 * Limits of the record-server HTTPS API on a real `medgate serve`, with curl and the record
 * servers' client certificates (`user add --cert-out`): a per-certificate rate limit (429 +
 * Retry-After, audited once per episode, one certificate never drains another's), and patient
 * searches of at least `api.minSearchLetters` letters.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SAMPLES, runCli, startServe, tempDir, writeGatewayConfig, type CliResult, type ServeProcess } from '../helpers/gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const RMP = `rmp@${DOMAIN}`;
const RMP2 = `rmp2@${DOMAIN}`;
const PW = 'record server secret 0';
const BURST = 5;

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

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
  const cli = (...args: string[]) => runCli([...args, '--config', config]);
  const as = (account: string, p: string) => curl(['--cacert', path.join(dir, 'certs', 'ca.pem'),
    '--cert', path.join(dir, 'account-certs', `${account}.crt.pem`), '--key', path.join(dir, 'account-certs', `${account}.key.pem`),
    `https://localhost:${serve.ports.api}${p}`]);
  const writeConfig = (api: Record<string, unknown>) => writeGatewayConfig(dir, { domain: DOMAIN, extra: { api } });

  beforeAll(async () => {
    dir = tempDir('medgate-api-limits-');
    // 6 per minute: one token every 10 s, so the burst cannot refill while the test runs.
    config = writeConfig({ rateLimit: { requestsPerMinute: 6, burst: BURST } });
    await must(cli('pki', 'init'), 'pki init');
    await must(cli('init'), 'init');
    await must(cli('directory', 'import', path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt')), 'directory import');
    for (const a of [RMP, RMP2]) await must(cli('user', 'add', a, '--kind', 'rmp', '--password', PW, '--cert-out', path.join(dir, 'account-certs')), `add ${a}`);
    serve = await startServe(config);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
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

    const audit = (await must(cli('audit', 'list', '--limit', '100000'), 'audit')).stdout.trim().split('\n')
      .map((l) => JSON.parse(l) as { actor: string; action: string; outcome: string; details: Record<string, unknown> });
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
