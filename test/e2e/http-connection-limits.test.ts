import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floodConnections, metricValue, waitUntil as waitFor } from '../helpers/connection-flood.js';
import { tempDir } from '../helpers/gateway.js';
import { startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

/**
 * Issue 27 item 4 on the HTTP listeners: the health/metrics/autodiscover listener (plain HTTP), the
 * record-server API and the record console (HTTPS) have the mail listeners' connection limits. Floods
 * come from 127.0.0.2, the logged-in doctor (console session) and the record server (API client
 * certificate) from 127.0.0.1, and each test checks they are served during the flood.
 */
const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [RMP]: 'record server secret 0' };
const FLOOD_FROM = '127.0.0.2';
// Short timers (the tests wait for them): the grace a second, the deadline well past it.
const LIMITS = { maxConnections: 100, maxPerAddress: 20, maxUnauthenticated: 30, preAuthSeconds: 3.5, minBytesPerSecond: 50, rateGraceSeconds: 1 };

type Listener = 'http' | 'api' | 'console';

describe('connection limits on the HTTP listeners (medgate serve, real sockets)', () => {
  let dir: string;
  let serve: InProcessGateway;
  let caPem: string;
  let rmpCert: { cert: string; key: string };
  let doctorJar = '';
  const opened: net.Socket[] = [];

  const port = (l: Listener): number => serve.ports[l]!;

  function request(l: Listener, method: string, p: string, o: { cookie?: string; form?: Record<string, string>; cert?: { cert: string; key: string } } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
    return new Promise((resolve, reject) => {
      const req = https.request({
        host: '127.0.0.1', port: port(l), path: p, method, ca: caPem, servername: 'localhost', agent: false, localAddress: '127.0.0.1', ...(o.cert ?? {}),
        headers: { ...(o.cookie ? { cookie: o.cookie } : {}), ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
  const cookiesOf = (headers: Record<string, string | string[] | undefined>, jar = ''): string => {
    const map = new Map(jar.split('; ').filter(Boolean).map((kv) => [kv.split('=')[0]!, kv]));
    for (const sc of (headers['set-cookie'] as string[] | undefined) ?? []) map.set(sc.split('=')[0]!, sc.split(';')[0]!);
    return [...map.values()].join('; ');
  };

  async function plainGet(p: string): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${port('http')}${p}`);
    await res.text();
    return res.status;
  }

  /** The logged-in doctor's console page, the record server's API call and /healthz are all answered. */
  async function served(): Promise<void> {
    expect((await request('console', 'GET', '/recherche', { cookie: doctorJar })).status).toBe(200);
    expect((await request('api', 'GET', '/api/v1/items?since=0', { cert: rmpCert })).status).toBe(200);
    expect(await plainGet('/healthz')).toBe(200);
  }

  const metric = (name: string, labels: string) => metricValue(port('http'), name, labels);
  const flood = (l: Listener, n: number, from = FLOOD_FROM) => floodConnections({ port: port(l), n, from, opened });

  beforeAll(async () => {
    dir = tempDir('medgate-http-limits-');
    fs.writeFileSync(path.join(dir, 'rmp.password'), PW[RMP]! + '\n', { mode: 0o600 });
    // Set up through the services `medgate init` / `user add --cert-out` call, and started in this
    // process as `serve` starts it (no CLI process per step, no gateway process to start).
    serve = await startInProcessGateway({
      store: 'sqlite', dir, domain: DOMAIN,
      extra: {
        listen: { host: '127.0.0.1', smtpSubmission: 0, smtpSubmissionTls: 0, smtpRelay: 0, imap: 0, imapTls: 0, http: 0, api: 0, console: 0 },
        limits: { connections: { http: LIMITS, api: LIMITS, console: LIMITS } },
        console: { recordServer: RMP, recordServerPasswordFile: './rmp.password', operators: [] },
      },
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! }, { address: RMP, kind: 'rmp', password: PW[RMP]! }],
    });
    rmpCert = { cert: serve.accounts[RMP]!.certificatePem, key: serve.accounts[RMP]!.certificateKeyPem };
    caPem = serve.caPem;
    // The doctor logs in to the console before any flood, and keeps the session.
    const page = await request('console', 'GET', '/connexion');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const login = await request('console', 'POST', '/connexion', { cookie: cookiesOf(page.headers), form: { _csrf: csrf, adresse: PAUL, motdepasse: PW[PAUL]! } });
    expect(login.status).toBe(303);
    doctorJar = cookiesOf(login.headers, cookiesOf(page.headers));
    await served();
  }, 120_000);
  afterAll(async () => {
    for (const s of opened) s.destroy();
    await serve?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const l of ['http', 'api', 'console'] as const) {
    it(`${l}: beyond the per-address cap a connection is refused at once (${l === 'http' ? '503' : 'closed before any TLS'}); the idle ones let in are closed for their rate; the doctor and the record server are served`, async () => {
      const refusedBefore = await metric('medgate_connections_refused_total', `listener="${l}",reason="too-many-from-address"`);
      const slowBefore = await metric('medgate_connections_closed_total', `listener="${l}",reason="too-slow"`);
      const started = Date.now();
      const socks = await flood(l, 30);
      await waitFor(() => socks.filter((s) => s.closed()).length >= 30 - LIMITS.maxPerAddress, 1_500);
      const refused = socks.filter((s) => s.closed());
      if (l === 'http') expect(refused.every((s) => s.said().startsWith('HTTP/1.1 503 Service Unavailable') && s.said().includes('Too many connections from your address'))).toBe(true);
      else expect(refused.every((s) => s.said() === '')).toBe(true);
      expect(await metric('medgate_connections_refused_total', `listener="${l}",reason="too-many-from-address"`) - refusedBefore).toBe(30 - LIMITS.maxPerAddress);
      await served();
      // Silent, the rest go for their rate once the grace has passed, well before the deadline.
      await waitFor(() => socks.every((s) => s.closed()), 4_000);
      expect(Date.now() - started).toBeLessThan(LIMITS.preAuthSeconds * 1000);
      if (l === 'http') expect(socks.filter((s) => !refused.includes(s)).every((s) => s.said().includes('408 Request Timeout'))).toBe(true);
      expect(await metric('medgate_connections_closed_total', `listener="${l}",reason="too-slow"`) - slowBefore).toBe(LIMITS.maxPerAddress);
      await served();
    }, 30_000);
  }

  it('console: strangers beyond the idle share make room by closing the oldest of them; a doctor connecting then is served', async () => {
    const evictedBefore = await metric('medgate_connections_closed_total', 'listener="console",reason="unauthenticated-evicted"');
    const first = await flood('console', 20);
    const second = await flood('console', 20, '127.0.0.3');
    await waitFor(() => [...first, ...second].filter((s) => s.closed()).length >= 10, 1_000);
    await served();
    expect(await metric('medgate_connections_closed_total', 'listener="console",reason="unauthenticated-evicted"') - evictedBefore).toBeGreaterThanOrEqual(10);
    await waitFor(() => [...first, ...second].every((s) => s.closed()), 5_000);
  }, 30_000);

  it('slowloris (a request head 1 byte every 300 ms): closed for its rate, over HTTP (408) and HTTPS; served meanwhile', async () => {
    const head = Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'x'.repeat(200) + '\r\n\r\n');
    const plain = net.connect({ host: '127.0.0.1', port: port('http'), localAddress: FLOOD_FROM });
    const secure = tls.connect({ host: '127.0.0.1', port: port('console'), ca: caPem, servername: 'localhost', localAddress: FLOOD_FROM });
    opened.push(plain, secure);
    const said = ['', ''];
    const closed = [false, false];
    [plain, secure].forEach((s, i) => {
      s.on('data', (d) => { said[i] += d.toString('latin1'); });
      s.on('error', () => undefined);
      s.on('close', () => { closed[i] = true; });
    });
    await new Promise<void>((r) => secure.once('secureConnect', () => r()));
    const started = Date.now();
    let i = 0;
    const drip = setInterval(() => { for (const s of [plain, secure]) if (!s.destroyed) s.write(head.subarray(i, i + 1)); i++; }, 300);
    try {
      await served();
      await waitFor(() => closed[0]! && closed[1]!, 6_000);
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(LIMITS.preAuthSeconds * 1000);
    expect(said[0]).toContain('HTTP/1.1 408 Request Timeout');
    expect(said[0]).toContain('Data arrives too slowly');
    expect(said[1]).toContain('HTTP/1.1 408 Request Timeout');
  }, 30_000);

  it('the header deadline: a head that keeps growing fast enough but never ends is closed at the deadline (408)', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: port('http'), localAddress: FLOOD_FROM });
    opened.push(socket);
    let said = '';
    let closed = false;
    socket.on('data', (d) => { said += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { closed = true; });
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const started = Date.now();
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const chatter = setInterval(() => { if (!closed) socket.write('X-More: yes\r\n'); }, 50);
    try {
      await served();
      await waitFor(() => closed, 8_000);
    } finally {
      clearInterval(chatter);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(LIMITS.preAuthSeconds * 1000 - 200);
    expect(said).toContain('HTTP/1.1 408 Request Timeout');
    expect(said).toContain('Request not received in time');
  }, 30_000);

  it('a kept-alive connection is not judged for its rate between requests, and answers again', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () => new Promise<{ status: number; localPort: number }>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: port('console'), path: '/recherche', ca: caPem, servername: 'localhost', agent, headers: { cookie: doctorJar } }, (res) => {
        const localPort = res.socket.localPort!;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, localPort }));
      }).on('error', reject);
    });
    const slowBefore = await metric('medgate_connections_closed_total', 'listener="console",reason="too-slow"');
    try {
      const first = await get();
      expect(first.status).toBe(200);
      // Idle longer than the grace (1 s), shorter than the deadline and the keep-alive timeout.
      await new Promise((r) => setTimeout(r, LIMITS.rateGraceSeconds * 1000 + 800));
      const second = await get();
      expect(second.status).toBe(200);
      expect(second.localPort).toBe(first.localPort); // the same connection
    } finally {
      agent.destroy();
    }
    expect(await metric('medgate_connections_closed_total', 'listener="console",reason="too-slow"')).toBe(slowBefore);
  }, 30_000);
});
