/**
 * Outlook autodiscover (POX, [MS-OXDSCLI]) and Thunderbird autoconfig, asked over real HTTP of a
 * running `medgate serve`: every setting is read back with an XML parser, and every bad request
 * gets a 4xx with a fixed Error element, never a 500 and never the request's text.
 */
import fs from 'node:fs';
import http from 'node:http';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareGateway, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import { freePorts } from '../helpers/ports.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const HOST = `mail.${DOMAIN}`;
const APP = `logiciel@${DOMAIN}`;
const PW = 'correct horse battery';
const REQUEST_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006';
const RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const OUTLOOK_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';

function requestXml(address: string, schema = OUTLOOK_NS, ns = REQUEST_NS): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${ns}">
  <Request>
    <EMailAddress>${address}</EMailAddress>
    <AcceptableResponseSchema>${schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false, isArray: (name) => name === 'Protocol' });
type Node = Record<string, any>;

describe('Outlook autodiscover and Thunderbird autoconfig over HTTP', () => {
  let dir: string;
  let gw: ServeProcess;
  let base: string;
  let ports: { imap: number; imapTls: number; smtpSubmission: number; smtpSubmissionTls: number };

  beforeAll(async () => {
    dir = tempDir();
    const [imap, imapTls, smtpSubmission, smtpSubmissionTls] = (await freePorts(4)) as [number, number, number, number];
    ports = { imap, imapTls, smtpSubmission, smtpSubmissionTls };
    const configFile = writeGatewayConfig(dir, { domain: DOMAIN, ports, extra: { hostname: HOST } });
    await prepareGateway(configFile, [{ address: APP, kind: 'application', password: PW }]);
    gw = await startServe(configFile);
    base = `http://127.0.0.1:${gw.ports.http}`;
  }, 180_000);
  afterAll(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: string | Buffer, o: { path?: string; type?: string | null } = {}): Promise<Response> =>
    fetch(`${base}${o.path ?? '/Autodiscover/Autodiscover.xml'}`, {
      method: 'POST',
      headers: o.type === null ? {} : { 'content-type': o.type ?? 'text/xml; charset=utf-8' },
      body: typeof body === 'string' ? body : new Uint8Array(body),
    });

  function settingsOf(xml: string): { imap: Node; smtp: Node; account: Node } {
    const doc = parser.parse(xml) as Node;
    expect(doc.Autodiscover['@_xmlns']).toBe(RESPONSE_NS);
    const response = doc.Autodiscover.Response;
    expect(response['@_xmlns']).toBe(OUTLOOK_NS);
    const account = response.Account;
    expect(account.AccountType).toBe('email');
    expect(account.Action).toBe('settings');
    const protocols = account.Protocol as Node[];
    expect(protocols.map((p) => p.Type)).toEqual(['IMAP', 'SMTP']);
    return { imap: protocols[0]!, smtp: protocols[1]!, account };
  }

  async function expectError(res: Response, status: number, code: string, absent: string[] = []): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
    const text = await res.text();
    for (const s of absent) expect(text).not.toContain(s);
    const doc = parser.parse(text) as Node;
    expect(doc.Autodiscover['@_xmlns']).toBe(RESPONSE_NS);
    const error = doc.Autodiscover.Response.Error;
    expect(error.ErrorCode).toBe(code);
    expect(error.Message).toBe(code === '600' ? 'Invalid Request' : 'The e-mail address cannot be found.');
  }

  it('answers Outlook\'s request with the IMAP and SMTP settings: host, TLS ports, the address as login, no SPA', async () => {
    const res = await post(requestXml(`  Logiciel@Cabinet-Antony.Medgate.Test `));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/xml; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const { imap, smtp } = settingsOf(await res.text());
    expect(imap).toEqual({
      Type: 'IMAP', Server: HOST, Port: String(ports.imapTls), DomainRequired: 'off', LoginName: APP,
      SPA: 'off', SSL: 'on', Encryption: 'SSL', AuthRequired: 'on',
    });
    expect(smtp).toEqual({
      Type: 'SMTP', Server: HOST, Port: String(ports.smtpSubmissionTls), DomainRequired: 'off', LoginName: APP,
      SPA: 'off', SSL: 'on', Encryption: 'SSL', AuthRequired: 'on', UsePOPAuth: 'off', SMTPLast: 'off',
    });
  });

  it('answers the lower-case and any other casing of the path the same, counted under one metrics route', async () => {
    for (const path of ['/autodiscover/autodiscover.xml', '/AUTODISCOVER/AutoDiscover.XML']) {
      const res = await post(requestXml(APP), { path });
      expect(res.status).toBe(200);
      expect(settingsOf(await res.text()).imap.LoginName).toBe(APP);
    }
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/medgate_http_requests_total\{route="\/autodiscover\/autodiscover.xml",status="200"\} [3-9]/);
    expect(metrics).not.toMatch(/route="\/A/);
  });

  it('answers an address of the domain without an account exactly like one with an account (no account leak)', async () => {
    const known = await (await post(requestXml(APP))).text();
    const unknown = await (await post(requestXml(`personne@${DOMAIN}`))).text();
    expect(unknown.replaceAll(`personne@${DOMAIN}`, APP)).toBe(known);
  });

  it('refuses an address of another domain with ErrorCode 500 and a 404, without echoing it', async () => {
    await expectError(await post(requestXml('dr.house@princeton-plainsboro.example')), 404, '500', ['princeton', 'house']);
    await expectError(await post(requestXml(`x@sub.${DOMAIN}`)), 404, '500', [`sub.${DOMAIN}`]);
  });

  it('refuses markup or entities in the address, an unknown schema or namespace, malformed XML, a DTD, non-UTF-8: 400 + ErrorCode 600', async () => {
    const cases: Array<[string | Buffer, string[]]> = [
      [requestXml(`<script>alert(1)</script>@${DOMAIN}`), ['script', 'alert']],
      [requestXml(`&lt;b&gt;x&lt;/b&gt;@${DOMAIN}`), ['<b>', '&lt;b']],
      [requestXml(`"onmouseover="x@${DOMAIN}`), ['onmouseover']],
      [requestXml('not-an-address'), ['not-an-address']],
      [requestXml(''), []],
      [requestXml(APP, 'http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006'), ['mobilesync']],
      [requestXml(APP, OUTLOOK_NS, 'urn:something-else'), ['something-else']],
      [`<Autodiscover xmlns="${REQUEST_NS}"><Request><EMailAddress>${APP}</EMailAddress>`, [APP]],
      ['plain text, not XML', ['plain text']],
      ['', []],
      [`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "${APP}">]><Autodiscover xmlns="${REQUEST_NS}"><Request><EMailAddress>&e;</EMailAddress><AcceptableResponseSchema>${OUTLOOK_NS}</AcceptableResponseSchema></Request></Autodiscover>`, ['ENTITY']],
      [`<Autodiscover xmlns="${REQUEST_NS}"><Request><EMailAddress>${APP}</EMailAddress><EMailAddress>x@${DOMAIN}</EMailAddress><AcceptableResponseSchema>${OUTLOOK_NS}</AcceptableResponseSchema></Request></Autodiscover>`, []],
      [Buffer.concat([Buffer.from(requestXml('caf')), Buffer.from([0xe9, 0xff])]), []],
    ];
    for (const [body, absent] of cases) await expectError(await post(body), 400, '600', absent);
  });

  it('refuses a body over 16 KiB with a 413, declared or streamed without a length', async () => {
    const big = requestXml(APP).replace('<Request>', `<Request><!--${'x'.repeat(17 * 1024)}-->`);
    await expectError(await post(big), 413, '600');

    // Chunked, no content-length: the cap applies while reading.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}/autodiscover/autodiscover.xml`, { method: 'POST', headers: { 'content-type': 'text/xml' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      for (let i = 0; i < 20; i++) req.write('x'.repeat(1024));
      req.end();
    });
    expect(answer.status).toBe(413);
    expect((parser.parse(answer.body) as Node).Autodiscover.Response.Error.ErrorCode).toBe('600');
  });

  it('refuses a wrong or missing content type (415) and a GET (405, Allow: POST)', async () => {
    await expectError(await post(requestXml(APP), { type: 'application/json' }), 415, '600');
    await expectError(await post(requestXml(APP), { type: 'text/plain' }), 415, '600');
    await expectError(await post(requestXml(APP), { type: null }), 415, '600');
    const get = await fetch(`${base}/Autodiscover/Autodiscover.xml?emailaddress=${encodeURIComponent(APP)}`);
    expect(get.headers.get('allow')).toBe('POST');
    await expectError(get, 405, '600', [APP]);
  });

  it('also answers with curl, as an operator checks it (application/xml accepted)', async () => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) => execFile('curl', [
      '-sS', '-w', '\n%{http_code}', '-H', 'Content-Type: application/xml', '--data-binary', requestXml(APP), `${base}/Autodiscover/Autodiscover.xml`,
    ], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    const status = out.slice(out.lastIndexOf('\n') + 1);
    expect(status).toBe('200');
    expect(settingsOf(out.slice(0, out.lastIndexOf('\n'))).smtp.Port).toBe(String(ports.smtpSubmissionTls));
  });

  it('Thunderbird autoconfig still answers on both paths with the same host and ports', async () => {
    for (const path of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
      const res = await fetch(`${base}${path}?emailaddress=${encodeURIComponent(APP)}`);
      expect(res.status).toBe(200);
      const provider = (new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseTagValue: false }).parse(await res.text()) as Node).clientConfig.emailProvider;
      expect(provider.domain).toBe(DOMAIN);
      const servers = [...provider.incomingServer, ...provider.outgoingServer] as Node[];
      expect(servers.map((s) => [s['@_type'], s.hostname, s.port, s.socketType, s.username])).toEqual([
        ['imap', HOST, String(ports.imapTls), 'SSL', '%EMAILADDRESS%'],
        ['imap', HOST, String(ports.imap), 'STARTTLS', '%EMAILADDRESS%'],
        ['smtp', HOST, String(ports.smtpSubmissionTls), 'SSL', '%EMAILADDRESS%'],
        ['smtp', HOST, String(ports.smtpSubmission), 'STARTTLS', '%EMAILADDRESS%'],
      ]);
    }
  });

  it('logs only the decisions: never an address, a domain asked or the body; no handler failure', () => {
    const lines = gw.logs.filter((l) => l.includes('"autodiscover"'));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      const rec = JSON.parse(line) as Record<string, unknown>;
      expect(rec.msg).toBe('autodiscover');
      const own = Object.keys(rec).filter((k) => !['level', 'time', 'service', 'pid', 'hostname', 'msg'].includes(k)).sort();
      expect(own).toEqual(rec.outcome === 'settings' ? ['outcome'] : ['outcome', 'reason']);
    }
    const all = gw.logs.join('\n');
    for (const s of ['logiciel@', 'personne', 'princeton', 'script', 'mobilesync']) expect(all).not.toContain(s);
    expect(all).not.toContain('http handler failed');
  });
});
