/**
 * Outbound to MSSanté by MX (issue 28 item 2: "the route is found by MX"), with no `mssante.routes`
 * entry: a real DNS server (Debian's dnsmasq, test/helpers/dnsmasq.ts) named in `dns.servers`, and
 * a real Postfix (test/helpers/postfix.ts) as the lab's operator on `mssante.mxPort`.
 *
 * - labo-biotest's MX names mx.labo-biotest, which only dnsmasq knows (127.0.0.1; not in /etc/hosts
 *   nor in the machine's DNS): the doctor's message reaches Postfix over mutual TLS, the certificate
 *   checked against the MX host and the recipient domain;
 * - imagerie-bourg does not exist (NXDOMAIN): the recipient fails at once, the doctor gets a failure
 *   report (5.1.2);
 * - cardio-sceaux's lookup is refused (a DNS failure): the recipient stays queued and is retried,
 *   with no failure report;
 * - rmp-hdf's MX also names mx.labo-biotest: Postfix's certificate names that host but not rmp-hdf,
 *   so nothing is sent and the recipient is retried (the wrong peer, never a downgrade).
 *
 * SQLite only: the route is chosen from the config and DNS, outside the store; what the store does
 * with a delivered, failed or retried recipient is the queue's, covered on both stores by
 * test/smtp/queue.test.ts and test/mssante/outbound.test.ts.
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsmasqAvailability, startDnsmasq, type DnsmasqInstance } from '../helpers/dnsmasq.js';
import { prepareGatewayData, startPreparedGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';
import { freePort } from '../helpers/ports.js';
import { postfixAvailability, startPostfix, type PostfixInstance } from '../helpers/postfix.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const LAB_DOMAIN = 'labo-biotest.medgate.test';
const MX_HOST = `mx.${LAB_DOMAIN}`; // Postfix's certificate names it, and the lab's domain
const PAUL = `paul.demo@${DOMAIN}`;
const ANNE = `anne.biologiste@${LAB_DOMAIN}`;
/** Whitelisted and in the directory without a key (MSSanté recipients); their domains are what DNS makes them here. */
const MARC = 'marc.radio@imagerie-bourg.medgate.test';
const CLAIRE = 'claire.martin@cardio-sceaux.medgate.test';
const RMP = 'rmp@rmp-hdf.medgate.test';
const PASSWORD = 'correct horse battery';

const available = dnsmasqAvailability() && postfixAvailability();

async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs: number, what: () => string): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!available)('MSSanté outbound routed by MX through dns.servers (dnsmasq + Postfix)', () => {
  let dnsmasq: DnsmasqInstance;
  let postfix: PostfixInstance;
  let gw: InProcessGateway;

  beforeAll(async () => {
    dnsmasq = await startDnsmasq({
      mx: [{ domain: LAB_DOMAIN, host: MX_HOST, preference: 10 }, { domain: 'rmp-hdf.medgate.test', host: MX_HOST, preference: 10 }],
      hosts: [{ name: MX_HOST, address: '127.0.0.1' }],
      nxdomains: ['imagerie-bourg.medgate.test'],
    });
    const postfixPort = await freePort();
    const prepared = await prepareGatewayData({
      store: 'sqlite', domain: DOMAIN,
      extra: {
        queue: { pollMs: 100, retryBaseSeconds: 0.2, retryMaxSeconds: 1, delayNoticeAfterMinutes: 60, maxLifetimeHours: 1 },
        // No `routes`: labo-biotest goes by its MX record, on Postfix's port.
        mssante: { outbound: 'allow', mxPort: postfixPort },
        dns: { servers: [dnsmasq.server] },
      },
      accounts: [{ address: PAUL, kind: 'person', password: PASSWORD, rpps: '10100000017' }],
    });
    try {
      postfix = await startPostfix({ caDir: prepared.config.pki.caDir, domain: LAB_DOMAIN, mailboxes: ['anne.biologiste'], port: postfixPort });
    } catch (err) {
      await prepared.dispose();
      throw err;
    }
    gw = await startPreparedGateway(prepared);
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    postfix?.stop();
    await dnsmasq?.stop();
  });

  const send = async (to: string, marker: string): Promise<void> => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PASSWORD }, tls: { ca: gw.caPem, servername: 'localhost' },
    });
    try {
      const info = await transport.sendMail({
        envelope: { from: PAUL, to: [to] },
        raw: `From: Paul Demo <${PAUL}>\r\nTo: ${to}\r\nSubject: Bilan ${marker}\r\nMessage-ID: <${marker}@${DOMAIN}>\r\n`
          + `Date: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${marker}\r\n`,
      });
      expect(info.accepted).toEqual([to]);
    } finally {
      transport.close();
    }
  };

  const queued = async (recipient: string, marker: string) => {
    const items = await gw.store.queue.list();
    const item = items.find((i) => i.messageId.includes(marker) || i.recipients.some((r) => r.recipient === recipient));
    return item?.recipients.find((r) => r.recipient === recipient);
  };

  /** The reports in the doctor's INBOX (sealed: opened with his key, as his mail client gets them). */
  const reportsFor = async (recipient: string): Promise<string[]> => {
    const out: string[] = [];
    for (const sealed of await gw.mailbox(PAUL, 'INBOX')) {
      const text = (await gw.open(sealed, PAUL, PASSWORD)).toString('utf8');
      if (/report-type=delivery-status/i.test(text) && text.includes(recipient)) out.push(text);
    }
    return out;
  };

  it('MX record → the MX host\'s address from dns.servers → Postfix on mssante.mxPort, over mutual TLS', async () => {
    expect(gw.config.mssante.routes).toEqual({});
    const marker = `mx-route-${Date.now()}`;
    await send(ANNE, marker);
    const delivered = await waitFor(() => postfix.delivered('anne.biologiste').find((m) => m.includes(marker)), 30_000,
      () => `delivery to Postfix\n${postfix.log()}\n${dnsmasq.log()}\n${gw.logs.slice(-20).join('\n')}`);
    // Postfix verified medgate's client certificate; medgate verified Postfix's (names MX_HOST and the domain).
    expect(delivered.toString('latin1')).toMatch(/\(Client CN "localhost", Issuer "[^"]+" \(verified OK\)\)/);
    expect(postfix.log()).toMatch(/Trusted TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23]/);
    // The route came from dnsmasq: the MX record, then the MX host's address.
    expect(dnsmasq.log()).toMatch(new RegExp(`query\\[MX\\] ${LAB_DOMAIN.replace(/\./g, '\\.')} from 127\\.0\\.0\\.1`));
    expect(dnsmasq.log()).toMatch(new RegExp(`query\\[A\\] ${MX_HOST.replace(/\./g, '\\.')} from 127\\.0\\.0\\.1`));
    const r = await waitFor(async () => { const q = await queued(ANNE, marker); return q?.status === 'delivered' ? q : undefined; }, 10_000, () => 'the queue to record the delivery');
    expect(r.attempts).toBe(1);
  });

  it('NXDOMAIN → the recipient fails at once with a failure report (5.1.2), no retry', async () => {
    const marker = `mx-nxdomain-${Date.now()}`;
    await send(MARC, marker);
    const [report] = await waitFor(async () => { const r = await reportsFor(MARC); return r.length ? r : undefined; }, 30_000,
      () => `a failure report\n${dnsmasq.log()}\n${gw.logs.slice(-20).join('\n')}`);
    expect(report).toMatch(/Action: failed/);
    expect(report).toMatch(/Status: 5\.1\.2/);
    expect(report).toMatch(/imagerie-bourg\.medgate\.test does not exist \(NXDOMAIN\)/);
    const r = await queued(MARC, marker);
    expect(r).toMatchObject({ status: 'failed', attempts: 1 });
    expect(dnsmasq.log()).toMatch(/imagerie-bourg\.medgate\.test is NXDOMAIN/);
  });

  it('a DNS failure (REFUSED) → the recipient stays queued and is retried, with no failure report', async () => {
    const marker = `mx-refused-${Date.now()}`;
    await send(CLAIRE, marker);
    const r = await waitFor(async () => { const q = await queued(CLAIRE, marker); return q && q.attempts >= 2 ? q : undefined; }, 30_000,
      () => `two attempts\n${dnsmasq.log()}\n${gw.logs.slice(-20).join('\n')}`);
    expect(r.status).toBe('pending');
    expect(r.lastError).toMatch(/^4\.4\.3 DNS: the MX lookup for cardio-sceaux\.medgate\.test failed \(EREFUSED\)/);
    expect(await reportsFor(CLAIRE)).toEqual([]);
  });

  it('an MX host whose certificate does not name the recipient domain gets nothing: retried', async () => {
    const marker = `mx-wrong-peer-${Date.now()}`;
    await send(RMP, marker);
    const r = await waitFor(async () => { const q = await queued(RMP, marker); return q && q.attempts >= 2 ? q : undefined; }, 30_000,
      () => `two attempts\n${dnsmasq.log()}\n${gw.logs.slice(-20).join('\n')}`);
    expect(r.status).toBe('pending');
    expect(r.lastError).toMatch(/the peer certificate does not name rmp-hdf\.medgate\.test/);
    expect(postfix.log()).not.toMatch(/rmp@rmp-hdf/);
    expect(postfix.delivered('anne.biologiste').some((m) => m.includes(marker))).toBe(false);
  });
});
