/**
 * Revocation data on the relay, with two real gateways (A sends, B receives):
 * - B's CRL file gone for a while is a temporary condition: B answers 451 4.7.0, A's queue keeps
 *   the message and retries, it is delivered once the CRL is back, and no failure DSN reaches the
 *   sender; B logs it and /metrics shows it.
 * - A peer revoked while its connection stays open: the next MAIL FROM on that same connection is
 *   refused (535 5.7.1 ... revoked), since each message is judged against the current CRL.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { CLAIRE, PAUL, mailboxBlobs, pendingQueue, portsOf, revoke, setupTwoGateways, startInProcess, submitter, waitFor, type TwoGateways } from './relay-fixture.js';

describeOnStores('revocation data on the relay: a CRL hiccup is temporary, a revocation applies to the next message', (store) => {
  let t: TwoGateways;
  /** B's own copy of the CRL (A keeps reading the CA's): only the receiver loses it. */
  let bCrl: string;

  beforeAll(async () => {
    t = await setupTwoGateways({
      store, inProcess: true,
      // B's config lists its own copy of the CRL, made once A has created the shared CA.
      configAfterCa: { b: ({ root, caDir }) => {
        bCrl = path.join(root, 'b-crl', 'crl.pem');
        fs.mkdirSync(path.dirname(bCrl));
        fs.copyFileSync(path.join(caDir, 'crl.pem'), bCrl);
        return { pki: { caDir, trustAnchors: [path.join(caDir, 'ca.pem')], crls: [bCrl] } };
      } },
    });
    expect(t.b.ctx!.config.pki.crls).toEqual([bCrl]);
    await Promise.all([startInProcess(t.a), startInProcess(t.b)]);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${portsOf(t.b)['http']}/metrics`)).text();
  const bLogs = (): string[] => t.b.running!.logs;

  it('B\'s CRL missing for a while: 451 4.7.0 to A, A retries, the message arrives after the CRL returns, no DSN to the sender', async () => {
    const inboxA = (await mailboxBlobs(t.a, PAUL)).length;
    const before = (await mailboxBlobs(t.b, CLAIRE)).length;
    fs.renameSync(bCrl, `${bCrl}.away`);
    try {
      const info = await submitter(t, t.a, PAUL).sendMail({
        envelope: { from: PAUL, to: [CLAIRE] },
        raw: `From: ${PAUL}\r\nTo: ${CLAIRE}\r\nSubject: pendant la CRL\r\nMessage-ID: <crl-hiccup@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
      });
      expect(info.response).toMatch(/^250 /);
      // A has tried and been told to retry, more than once (retries every 0.2-1 s in this fixture).
      // What `medgate queue list` shows on A: the recipient pending, its last error B's 451.
      const told = await waitFor(async () => (await pendingQueue(t.a)).flatMap((i) => i.recipients)
        .find((r) => /^451 4\.7\.0 Peer certificate cannot be checked for revocation/.test(r.lastError ?? '')), 30_000, 'A to be told 451 4.7.0');
      expect(told).toMatchObject({ recipient: CLAIRE, status: 'pending' });
      // Checked after the behaviour, so that the test shows that first on a gateway without the metric.
      const m = await metrics();
      expect(m).toMatch(/^medgate_crl_unavailable 1$/m);
      expect(m).toMatch(/^medgate_crl_files\{state="missing"\} 1$/m);
      await waitFor(() => bLogs().filter((l) => l.includes('revocation data unavailable, peer told to retry')).length >= 2, 30_000, 'two refused attempts');
      // Said once in the log when it happened (checked every 5 s), besides each refusal's line.
      await waitFor(() => bLogs().some((l) => /revocation data unavailable: certificates/.test(l)), 20_000, 'the log line saying the CRL is unavailable');
      expect((await mailboxBlobs(t.b, CLAIRE))).toHaveLength(before);
    } finally {
      fs.renameSync(`${bCrl}.away`, bCrl);
    }
    await waitFor(async () => (await mailboxBlobs(t.b, CLAIRE)).length > before, 30_000, 'delivery once the CRL is back');
    expect((await mailboxBlobs(t.b, CLAIRE))).toHaveLength(before + 1);
    expect(await metrics()).toMatch(/^medgate_crl_unavailable 0$/m);
    expect((await (await t.a.store()).queue.list()).flatMap((i) => i.recipients).filter((r) => r.status === 'failed')).toEqual([]);
    // No failure (nor any other) report came back to the sender.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await mailboxBlobs(t.a, PAUL))).toHaveLength(inboxA);
  }, 90_000);

  it('a peer revoked while its connection stays open: its next MAIL FROM on that connection is refused as revoked', async () => {
    const tls = path.join(t.a.dir, 'data', 'tls');
    // A real SMTP client (Python's smtplib) holding one connection: MAIL FROM, RSET, wait, MAIL FROM.
    const script = `
import json, smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=60)
s.starttls(context=ctx)
s.ehlo('${t.a.domain}')
print(json.dumps(list(s.mail(sys.argv[5])), default=lambda b: b.decode()), flush=True)
s.rset()
sys.stdin.readline()
print(json.dumps(list(s.mail(sys.argv[5])), default=lambda b: b.decode()), flush=True)
try:
    s.quit()
except Exception:
    pass
`;
    const child = spawn('python3', ['-c', script, String(t.b.relayPort), path.join(t.caDir, 'ca.pem'), path.join(tls, 'gateway.crt.pem'), path.join(tls, 'gateway.key.pem'), PAUL]);
    const lines: string[] = [];
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => lines.push(...b.toString().split('\n').filter(Boolean)));
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    try {
      await waitFor(() => lines.length >= 1, 30_000, `the first MAIL FROM (${stderr})`);
      expect(JSON.parse(lines[0]!)[0]).toBe(250);

      const serial = execFileSync('openssl', ['x509', '-in', path.join(tls, 'gateway.crt.pem'), '-noout', '-serial']).toString().trim().split('=')[1]!;
      await revoke(t.a, serial);
      // B reads the CRL it is given: the operator (here the test) publishes the new one to it.
      fs.copyFileSync(path.join(t.caDir, 'crl.pem'), bCrl);

      child.stdin.write('\n');
      await waitFor(() => lines.length >= 2, 30_000, `the second MAIL FROM (${stderr})`);
      const [code, text] = JSON.parse(lines[1]!) as [number, string];
      expect(code).toBe(535);
      expect(text).toMatch(/^5\.7\.1 Peer certificate refused: revoked/);
    } finally {
      child.kill();
    }
  }, 60_000);
});
