import https from 'node:https';
import { requestsFromAddresses } from '../helpers/address-flood.js';
import { metricValue } from '../helpers/connection-flood.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSmtpClient } from '../smtp/fixtures/smtp-client.js';
import { JL, PASSWORD, PAUL, startSubmissionServe, type ServedSubmissionGateway } from '../smtp/fixtures/submission-gateway.js';

/**
 * Issue 27 item 5: a flood of refused attempts writes a bounded number of hash-chained audit
 * records (the first few per source, kind and window one by one, then one aggregate with the
 * count), and the record-server API is rate-limited per address before authentication.
 */
const WINDOW_SECONDS = 3;
const INDIVIDUAL = 10;
const ADDRESS_BURST = 50;
const MAX_OPEN_WINDOWS = 5;

interface AuditLine { seq: number; actor: string; action: string; outcome: string; details: Record<string, unknown> }

describe('refusal floods and the audit trail (medgate serve)', () => {
  let gw: ServedSubmissionGateway;
  beforeAll(async () => {
    gw = await startSubmissionServe({ store: 'sqlite',
      extra: {
        audit: { refusals: { individualPerWindow: INDIVIDUAL, windowSeconds: WINDOW_SECONDS, maxOpenWindows: MAX_OPEN_WINDOWS } },
        // One token a second: the burst does not refill noticeably while the flood runs.
        api: { addressRateLimit: { requestsPerMinute: 60, burst: ADDRESS_BURST } },
      },
    });
  }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  async function audit(): Promise<AuditLine[]> {
    const r = await gw.cli('audit', 'list', '--limit', '1000000');
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
  }

  it('1000 API requests without a certificate: 401 then 429 per address, and about 20 audit records, not 1000', async () => {
    const before = (await audit()).length;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 20, ca: gw.caPem });
    const get = () => new Promise<number>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: gw.serve.ports.api, path: '/api/v1/items?since=0', servername: 'localhost', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    const statuses: number[] = [];
    for (let i = 0; i < 1000; i += 50) statuses.push(...await Promise.all(Array.from({ length: 50 }, get)));
    agent.destroy();
    const count = (s: number) => statuses.filter((x) => x === s).length;
    // A token or two may refill while the flood runs (one a second).
    expect(count(401)).toBeGreaterThanOrEqual(ADDRESS_BURST);
    expect(count(401)).toBeLessThan(ADDRESS_BURST + 30);
    expect(count(401) + count(429)).toBe(1000);

    // The windows close, and their counts are written.
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 1500));
    const records = (await audit()).slice(before);
    const auth = records.filter((r) => r.action === 'api.auth');
    const limited = records.filter((r) => r.action === 'api.rate-limit');
    expect(auth.filter((r) => !r.details.aggregate)).toHaveLength(INDIVIDUAL);
    expect(limited.filter((r) => !r.details.aggregate)).toHaveLength(INDIVIDUAL);
    // Every refusal is accounted for: individual records plus the aggregates' counts.
    const counted = (rs: AuditLine[]) => rs.reduce((n, r) => n + (r.details.aggregate ? Number(r.details.count) : 1), 0);
    expect(counted(auth)).toBe(count(401));
    expect(counted(limited)).toBe(count(429));
    expect(auth.find((r) => r.details.aggregate)?.details).toMatchObject({ reason: 'no-certificate', remote: expect.stringContaining('127.0.0.1') });
    expect(records.length).toBeLessThanOrEqual(2 * (INDIVIDUAL + 2));
    // The chain is intact.
    const verify = await gw.cli('audit', 'verify');
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
  }, 120_000);

  it('1000 refused SMTP recipients on one connection: bounded records, and the session still serves', async () => {
    const before = (await audit()).length;
    const { client, auth } = await RawSmtpClient.loggedIn(gw.starttlsPort, gw.caPem, PAUL, PASSWORD[PAUL]!);
    expect(auth.code).toBe(235);
    expect((await client.cmd(`MAIL FROM:<${PAUL}>`)).code).toBe(250);
    const refused: number[] = [];
    for (let i = 0; i < 1000; i += 100) {
      // Pipelined (RFC 2920): 100 commands, then their 100 replies.
      client.write(Array.from({ length: 100 }, (_, j) => `RCPT TO:<personne${i + j}@gmail.com>\r\n`).join(''));
      for (let j = 0; j < 100; j++) refused.push((await client.read()).code);
    }
    expect(refused.every((c) => c === 550)).toBe(true);
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    await client.quit();
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 1500));
    const records = (await audit()).slice(before).filter((r) => r.action === 'smtp.rcpt.refused');
    expect(records.filter((r) => !r.details.aggregate)).toHaveLength(INDIVIDUAL);
    expect(records.filter((r) => r.details.aggregate).reduce((n, r) => n + Number(r.details.count), 0)).toBe(1000 - INDIVIDUAL);
    expect(records.length).toBeLessThanOrEqual(INDIVIDUAL + 2);
  }, 120_000);

  it('1000 API requests without a certificate from 100 addresses (10 each, all under every per-address limit): bounded records, every refusal counted', async () => {
    const before = (await audit()).length;
    const metric = (how: string) => metricValue(gw.serve.ports.http!, 'medgate_audit_refusals', `how="${how}"`);
    const overflowBefore = await metric('overflow');
    const addresses = Array.from({ length: 100 }, (_, i) => `127.0.1.${i + 1}`);
    const started = Date.now();
    const statuses = await requestsFromAddresses({
      addresses, perAddress: 10, ca: gw.caPem,
      request: (agent) => new Promise<number>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: gw.serve.ports.api, path: '/api/v1/items?since=0', servername: 'localhost', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      }),
    });
    // Each address stays under its own limits: every request is refused for its missing certificate.
    expect(statuses.filter((x) => x === 401)).toHaveLength(1000);
    const elapsed = Date.now() - started;
    expect(await metric('overflow') - overflowBefore).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, WINDOW_SECONDS * 1000 + 1500));
    const records = (await audit()).slice(before).filter((r) => r.action === 'api.auth');
    // At most MAX_OPEN_WINDOWS sources are recorded one by one per window's time (windows close
    // and open again while the flood runs); the others are counted into one record per window's
    // time. Per address, each of the 1000 refusals was a record.
    const periods = Math.ceil(elapsed / (WINDOW_SECONDS * 1000)) + 1;
    const individual = records.filter((r) => !r.details.aggregate);
    const aggregates = records.filter((r) => r.details.aggregate);
    expect(individual.length).toBeLessThanOrEqual(periods * MAX_OPEN_WINDOWS * INDIVIDUAL);
    expect(records.length).toBeLessThanOrEqual(periods * (MAX_OPEN_WINDOWS * (INDIVIDUAL + 1) + 1));
    expect(records.length).toBeLessThan(300);
    // Every refusal is accounted for, and the overflow records say how many sources they stand for.
    expect(individual.length + aggregates.reduce((n, r) => n + Number(r.details.count), 0)).toBe(1000);
    const overflow = aggregates.filter((r) => r.details.remote === 'other sources');
    expect(overflow.length).toBeGreaterThanOrEqual(1);
    expect(overflow.length).toBeLessThanOrEqual(periods);
    for (const r of overflow) {
      expect(r.details).toMatchObject({ reason: 'no-certificate', recordedIndividually: 0 });
      expect(Number(r.details.sources)).toBeGreaterThan(0);
      expect((r.details.someSources as string[]).every((a) => a.startsWith('127.0.1.'))).toBe(true);
    }
    const verify = await gw.cli('audit', 'verify');
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
  }, 120_000);
});
