/**
 * The record-server HTTPS API on a gateway built as `medgate serve` builds it (in this process), on
 * SQLite and on PostgreSQL: curl as the record server (client certificate as `user add --cert-out`
 * writes it), Node's https for the refusals (no certificate, a person's certificate, another CA, a
 * same-CA certificate that is not the account's, a revoked one), garbage on the socket, and the
 * plain HTTP listener that must not serve the API. The audit trail is read through the store.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestCa, loadTestCa, readCertificateInfo } from '../../src/pki/index.js';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [RMP]: 'record server secret 0' };

interface Answer { status: number; body: Record<string, unknown> | unknown[] }

/** curl as a real client; `-w` appends the status on its own line. */
function curl(args: string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', '-w', '\n%{http_code}', ...args], (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl failed: ${stderr}`));
      const i = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(i + 1)), body: JSON.parse(stdout.slice(0, i)) as Answer['body'] });
    });
  });
}

/** Node's https with an optional client certificate (a fresh agent each time: no session reuse). */
function nodeGet(port: number, p: string, o: { ca: string; cert?: string; key?: string; method?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', servername: 'localhost', port, path: p, method: o.method ?? 'GET', ca: o.ca, cert: o.cert, key: o.key, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer['body'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

describeOnStores('record-server HTTPS API (listen.api, client certificates)', (store) => {
  let gw: InProcessGateway;
  let dir: string;
  let caPem: string;
  let rmpCert: string;
  let rmpKey: string;
  const api = (p: string) => `https://localhost:${gw.ports.api}${p}`;
  const asRmp = (p: string, extra: string[] = []) => curl(['--cacert', gw.caFile, '--cert', rmpCert, '--key', rmpKey, ...extra, api(p)]);
  /** What `medgate audit list` prints, through the store. */
  const auditRecords = () => gw.ctx.audit.list(1, 100_000);

  beforeAll(async () => {
    // `medgate init`, the directory import and `user add --cert-out` through the services they call.
    gw = await startInProcessGateway({
      store, domain: DOMAIN, whitelist: false,
      accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! }, { address: RMP, kind: 'rmp', password: PW[RMP]! }],
    });
    dir = gw.dir;
    rmpCert = gw.accounts[RMP]!.certFile;
    rmpKey = gw.accounts[RMP]!.keyFile;
    caPem = gw.caPem;

    // One item for the record server, submitted over SMTP by the treating doctor.
    const raw = await new MailComposer({
      from: PAUL, to: RMP, subject: 'Synthèse médicale', text: 'Volet de synthèse médicale.\n',
      headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' },
      // A pathologist's report the doctor forwards: filed, marked "transmitted, author not verified".
      attachments: [{ filename: 'histologie.pdf', content: Buffer.from('%PDF-1.4\n%%EOF\n'), contentType: 'application/pdf' }],
    }).compile().build();
    const transport = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PW[PAUL]! }, tls: { ca: caPem, servername: 'localhost' },
    });
    try { await transport.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw }); } finally { transport.close(); }
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
  });

  it('announces the API port and serves the filed items, patients and a patient to the record server (curl)', async () => {
    expect(gw.ports.api).toBeGreaterThan(0);
    const items = await asRmp('/api/v1/items?since=0');
    expect(items.status).toBe(200);
    const list = items.body as Array<{ seq: number; patientId: string; tab: string; sender: string; part: string; blobId: string; author: unknown; authorMark: string }>;
    expect(list).toHaveLength(2);
    expect(list[0]).toMatchObject({ tab: 'summary', sender: PAUL, part: 'body', author: { status: 'sender' }, authorMark: `author: ${PAUL}` });
    expect(list[0]!.blobId).toMatch(/^[0-9a-f]{64}$/);
    expect(list[1]).toMatchObject({ tab: 'reports', type: 'pathology-report', part: 'histologie.pdf', author: { status: 'unverified' }, authorMark: `transmitted by ${PAUL}, author not verified` });
    // Polling from the last seq returns nothing new.
    expect((await asRmp(`/api/v1/items?since=${list[1]!.seq}`)).body).toEqual([]);

    const found = await asRmp('/api/v1/patients?search=dup');
    expect(found.status).toBe(200);
    const patients = found.body as Array<{ id: string; identity: { familyName?: string; birthDate: string } }>;
    expect(patients).toHaveLength(1);
    expect(patients[0]!.id).toBe(list[0]!.patientId);
    expect(patients[0]!.identity.birthDate).toBe('1959-01-30');

    const one = await asRmp(`/api/v1/patient?id=${encodeURIComponent(patients[0]!.id)}`);
    expect(one.status).toBe(200);
    const view = one.body as { id: string; treatingDoctor: string; tabs: Record<string, unknown[]>; accessCode?: string };
    expect(view.treatingDoctor).toBe(PAUL);
    expect(view.tabs.summary).toHaveLength(1);
    expect(view).not.toHaveProperty('accessCode');

    // The audit trail says which patient the record server read (pseudonymous id), never the search term.
    const audit = (await auditRecords()).filter((r) => r.action === 'filing.api' && r.outcome === 'ok');
    expect(audit.find((r) => r.details.path === '/api/v1/patient')?.details.patientId).toBe(patients[0]!.id);
    expect(audit.find((r) => r.details.path === '/api/v1/patients')?.details).toMatchObject({ results: 1, patientIds: [patients[0]!.id] });
    expect(JSON.stringify(audit)).not.toMatch(/"dup"|search/i);
  });

  it('answers bad paths 404, bad or missing query parameters 400, other methods 405, unknown patients 404', async () => {
    expect((await asRmp('/api/v1/nothing')).status).toBe(404);
    expect((await asRmp('/')).status).toBe(404);
    for (const [p, msg] of [
      ['/api/v1/items?since=abc', /"since" must be an integer/],
      ['/api/v1/items?since=-1', /"since" must be an integer/],
      ['/api/v1/items?limit=0', /"limit" must be an integer from 1 to 1000/],
      ['/api/v1/patients', /"search" is required/],
      ['/api/v1/patients?search=' + 'A'.repeat(65), /longer than 64/],
      ['/api/v1/patient', /"id" is required/],
    ] as const) {
      const r = await asRmp(p);
      expect(r.status, p).toBe(400);
      expect((r.body as { error: string }).error).toMatch(msg);
    }
    expect((await asRmp('/api/v1/patient?id=P-does-not-exist')).status).toBe(404);
    const post = await asRmp('/api/v1/items', ['-X', 'POST']);
    expect(post.status).toBe(405);
  });

  it('refuses without a certificate, with a person\'s certificate, another CA\'s, or a same-CA certificate that is not the account\'s (401, audited, no data)', async () => {
    const port = gw.ports.api!;
    const none = await nodeGet(port, '/api/v1/items?since=0', { ca: caPem });
    expect(none).toEqual({ status: 401, body: { error: 'a record-server client certificate is required', reason: 'no-certificate' } });
    // Unauthenticated callers learn nothing about paths either.
    expect((await nodeGet(port, '/api/v1/nothing', { ca: caPem })).status).toBe(401);

    const person = await nodeGet(port, '/api/v1/items?since=0', { ca: caPem, cert: gw.accounts[PAUL]!.certificatePem, key: gw.accounts[PAUL]!.certificateKeyPem });
    expect(person).toEqual({ status: 401, body: { error: 'a record-server client certificate is required', reason: 'not-a-record-server' } });

    // Another CA issues a certificate naming the record server: TLS lets it through (rejectUnauthorized
    // is off on purpose), the application refuses it.
    const other = await createTestCa({ dir: path.join(dir, 'other-ca'), commonName: 'rogue CA' });
    const rogue = await other.issue({ profile: 'user', commonName: 'rogue', emails: [RMP] });
    const foreign = await nodeGet(port, '/api/v1/items?since=0', { ca: caPem, cert: rogue.certPem, key: rogue.keyPem });
    expect(foreign).toEqual({ status: 401, body: { error: 'a record-server client certificate is required', reason: 'certificate-invalid' } });

    // The gateway's own CA, the record server's address, but not the certificate of the account.
    const sameCa = await (await loadTestCa(gw.config.pki.caDir)).issue({ profile: 'user', commonName: 'copy', emails: [RMP] });
    const mismatch = await nodeGet(port, '/api/v1/items?since=0', { ca: caPem, cert: sameCa.certPem, key: sameCa.keyPem });
    expect(mismatch).toEqual({ status: 401, body: { error: 'a record-server client certificate is required', reason: 'certificate-mismatch' } });

    const records = await auditRecords();
    const audit = records.map((r) => JSON.stringify(r)).join('\n');
    const refusals = records.filter((a) => a.action === 'api.auth') as Array<{ outcome: string; details: { reason?: string; path?: string } }>;
    expect(refusals.every((a) => a.outcome === 'refused')).toBe(true);
    expect(new Set(refusals.map((a) => a.details.reason))).toEqual(new Set(['no-certificate', 'not-a-record-server', 'certificate-invalid', 'certificate-mismatch']));
    expect(refusals.find((a) => a.details.reason === 'no-certificate')!.details.path).toBe('/api/v1/items');
    // Query strings (first letters of a patient's name) are never audited.
    expect(audit).not.toMatch(/search=|DUPONT/);
  });

  it('survives garbage and plain HTTP on the TLS port; the plain HTTP listener has no API', async () => {
    for (const junk of [Buffer.from('GET /api/v1/items HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2, 3, 4, 5])]) {
      await new Promise<void>((resolve) => {
        const s = net.connect(gw.ports.api!, '127.0.0.1', () => s.end(junk));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    }
    expect((await asRmp('/api/v1/items?since=0')).status).toBe(200);

    const plain = await fetch(`http://127.0.0.1:${gw.ports.http}/api/v1/items?since=0`);
    expect(plain.status).toBe(404);
    expect(await plain.text()).not.toMatch(/summary|patient/i);
  });

  it('refuses the record server\'s own certificate once it is revoked (CRL re-read without restart)', async () => {
    const serial = readCertificateInfo(fs.readFileSync(rmpCert, 'utf8')).serial;
    // `medgate pki revoke`, through the CA service it calls: the running gateway re-reads the CRL file.
    const ca = await gw.ctx.loadCa();
    await ca.revoke(serial);
    await ca.crlPem();
    const r = await asRmp('/api/v1/items?since=0');
    expect(r).toEqual({ status: 401, body: { error: 'a record-server client certificate is required', reason: 'certificate-invalid' } });
    const audit = (await auditRecords()).map((r) => JSON.stringify(r)).join('\n');
    expect(audit).toMatch(/"action":"api\.auth".*"detail":"revoked: /);
  });
});
