import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestsFromAddresses } from '../helpers/address-flood.js';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

/**
 * Issue 27 item 5 on the record console: refusals before login (a certificate login without a
 * usable certificate, requests over the rate limit) are audited per source and window like every
 * other refusal, never one chained record each. A flood from 100 addresses (10 attempts each: under
 * every per-address limit) writes a bounded number of records, every attempt counted. Over real
 * HTTPS, against a gateway serving the console.
 */
const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const INDIVIDUAL = 10;
const MAX_OPEN_WINDOWS = 5;
const WINDOW_SECONDS = 30;

interface Answer { status: number; cookies: string[]; body: string }

describe('record console: refusal floods and the audit trail', () => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({
      store: 'sqlite', domain: DOMAIN, directory: false, whitelist: false,
      ports: { console: 0 } as never,
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: 'paul password 123' }],
      extra: {
        audit: { refusals: { individualPerWindow: INDIVIDUAL, windowSeconds: WINDOW_SECONDS, maxOpenWindows: MAX_OPEN_WINDOWS } },
        // The whole flood fits in each address's limits: what bounds the records is the aggregation.
        console: { loginAttemptsPerMinute: 20, requestsPerMinute: 600 },
      },
    });
    expect(gw.ports.console).toBeGreaterThan(0);
  }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  function request(method: string, path: string, o: { from?: string; cookie?: string; form?: Record<string, string>; agent?: https.Agent } = {}): Promise<Answer> {
    const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: gw.ports.console, path, method, ca: gw.caPem, servername: 'localhost', ...(o.agent ? { agent: o.agent } : { localAddress: o.from }),
        headers: {
          ...(o.cookie ? { cookie: o.cookie } : {}),
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, cookies: ((res.headers['set-cookie'] as string[] | undefined) ?? []).map((c) => c.split(';')[0]!), body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('1000 certificate logins without a certificate from 100 addresses: 401 each, a bounded number of audit records, every attempt counted', async () => {
    const before = (await gw.store.audit.list(0, 1_000_000)).length;
    // One login form: its CSRF cookie and token (bound to no session) serve every attempt.
    const page = await request('GET', '/connexion');
    const cookie = page.cookies.join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const addresses = Array.from({ length: 100 }, (_, i) => `127.0.2.${i + 1}`);
    const started = Date.now();
    const statuses = await requestsFromAddresses({
      addresses, perAddress: 10, ca: gw.caPem,
      request: async (agent) => (await request('POST', '/connexion/certificat', { agent, cookie, form: { _csrf: csrf } })).status,
    });
    expect(Date.now() - started).toBeLessThan(WINDOW_SECONDS * 1000);
    expect(statuses.filter((s) => s === 401)).toHaveLength(1000);
    await gw.ctx.audit.flushRefusals();
    const records = (await gw.store.audit.list(0, 1_000_000)).slice(before).filter((r) => r.action === 'auth.certificate');
    // One chained record per attempt before (1000).
    const individual = records.filter((r) => !r.details?.aggregate);
    expect(individual).toHaveLength(MAX_OPEN_WINDOWS * INDIVIDUAL);
    expect(individual.every((r) => r.outcome === 'refused' && r.details?.reason === 'no-certificate' && r.details.via === 'console')).toBe(true);
    const overflow = records.filter((r) => r.details?.aggregate);
    expect(overflow).toHaveLength(1);
    expect(overflow[0]!.details).toMatchObject({ remote: 'other sources', reason: 'no-certificate', count: 1000 - MAX_OPEN_WINDOWS * INDIVIDUAL, sources: 100 - MAX_OPEN_WINDOWS });
    expect(gw.ctx.audit.refusalCounts().overflow).toBeGreaterThanOrEqual(1000 - MAX_OPEN_WINDOWS * INDIVIDUAL);
  }, 60_000);
});
