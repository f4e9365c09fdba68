import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/in-process-gateway.js';
import { generatePgpKey, readPublicKey } from '../../src/crypto/keys.js';
import { seal } from '../../src/crypto/seal/index.js';
import { createTestCa, loadTestCa } from '../../src/pki/index.js';
import { runCli, tempDir } from '../helpers/gateway.js';
import {
  CLAIRE, PASSWORD, PAUL, caPem, mailboxBlobs, serve, setupTwoGateways, submitter, waitFor, type GatewayHandle, type TwoGateways,
} from './relay-fixture.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function rawMessage(subject: string, body: string): string {
  return [
    `From: Paul Demo <${PAUL}>`, `To: Claire Martin <${CLAIRE}>`, `Subject: ${subject}`,
    'Date: Tue, 02 Jun 2026 10:00:00 +0200', `Message-ID: <${sha256(subject + body).slice(0, 16)}@cabinet-antony.medgate.test>`,
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 7bit', '', body, '',
  ].join('\r\n');
}

type RelayResult = { ok: true; response: string } | { ok: false; code: number | undefined; response: string };

/** Speaks SMTP to a relay port directly, as a peer gateway would (or would try to). */
async function relaySend(port: number, o: { cert?: { key: string; cert: string }; from: string; to: string[]; raw: string | Buffer | Readable; ignoreTLS?: boolean; ca: string }): Promise<RelayResult> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1', port, secure: false, ignoreTLS: !!o.ignoreTLS, requireTLS: !o.ignoreTLS,
    tls: { ca: o.ca, ...(o.cert ? { key: o.cert.key, cert: o.cert.cert } : {}) },
  });
  try {
    const info = await transport.sendMail({ envelope: { from: o.from, to: o.to }, raw: o.raw });
    return { ok: true, response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

function gatewayCert(g: GatewayHandle): { key: string; cert: string } {
  return {
    key: fs.readFileSync(path.join(g.dir, 'data', 'tls', 'gateway.key.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(g.dir, 'data', 'tls', 'gateway.crt.pem'), 'utf8'),
  };
}

describeOnStores('peer relay between two gateways (mutual TLS, sealed messages only)', (store) => {
  let t: TwoGateways;
  let ca: string;
  let sealedByCli: string;

  beforeAll(async () => {
    t = await setupTwoGateways({ store });
    await Promise.all([serve(t.a), serve(t.b)]);
    ca = caPem(t);
  }, 150_000);
  afterAll(async () => { await t?.cleanup(); });

  it('a message submitted on A for a B recipient arrives sealed in B\'s store and opens byte-identical', async () => {
    const raw = rawMessage('Compte rendu de consultation', 'Bonjour,\r\nvoici le compte rendu.\r\nCordialement');
    const transport = submitter(t, t.a, PAUL);
    const info = await transport.sendMail({ envelope: { from: PAUL, to: [CLAIRE] }, raw });
    transport.close();
    expect(info.response).toMatch(/^250 /);
    const blobs = await waitFor(async () => { const b = (await mailboxBlobs(t.b, CLAIRE)); return b.length ? b : undefined; }, 20_000, 'delivery on B');
    expect(blobs).toHaveLength(1);
    const stored = blobs[0]!.toString('latin1');
    expect(stored).toMatch(/^X-Medgate-Format: medgate\/1/m);
    expect(stored).toContain('multipart/encrypted');
    expect(stored).not.toContain('compte rendu');
    const res = await openOn(t.b, blobs[0]!);
    expect(res.stderr).toMatch(new RegExp(`signature valid: ${PAUL}`));
    expect(sha256(res.stdout)).toBe(sha256(raw));
  }, 60_000);

  const openOn = (g: GatewayHandle, sealed: Buffer) =>
    runCli(['message', 'open', '--as', CLAIRE, '--password', PASSWORD, '--config', g.config], { input: sealed.toString('latin1') });

  it('accepts a message sealed with `medgate message seal` from a peer certificate, and places it once even when sent twice', async () => {
    const raw = rawMessage('Second', 'Deuxieme message.');
    const s = await runCli(['message', 'seal', '--from', PAUL, '--to', CLAIRE, '--password', PASSWORD, '--config', t.a.config], { input: raw });
    expect(s.code, s.stderr).toBe(0);
    sealedByCli = s.stdout;
    const before = (await mailboxBlobs(t.b, CLAIRE)).length;
    const first = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(first).toMatchObject({ ok: true });
    const again = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(again.ok && again.response).toMatch(/already delivered/);
    const after = (await mailboxBlobs(t.b, CLAIRE));
    expect(after.length).toBe(before + 1);
    expect(sha256(after[after.length - 1]!)).toBe(sha256(Buffer.from(sealedByCli, 'latin1')));
  }, 60_000);

  it('refuses MAIL before STARTTLS', async () => {
    const r = await relaySend(t.b.relayPort, { ignoreTLS: true, from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 530 });
    expect(r.response).toContain('5.7.0 Must issue a STARTTLS command first');
  });

  it('refuses a peer without a client certificate', async () => {
    const r = await relaySend(t.b.relayPort, { from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 530 });
    expect(r.response).toContain('5.7.0 Peer gateway must present a client certificate');
  });

  it('refuses a certificate from another CA', async () => {
    const other = await createTestCa({ dir: tempDir('medgate-other-ca-'), commonName: 'rogue CA' });
    const issued = await other.issue({ profile: 'gateway', commonName: 'localhost', dnsNames: ['localhost', 'cabinet-antony.medgate.test'], ipAddresses: ['127.0.0.1'] });
    const r = await relaySend(t.b.relayPort, { cert: { key: issued.keyPem, cert: issued.certPem }, from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 535 });
    expect(r.response).toContain('5.7.1 Peer certificate refused: untrusted');
    fs.rmSync(other.dir, { recursive: true, force: true });
  });

  it('refuses a sender domain outside the whitelist (certificate from the trusted CA)', async () => {
    const trusted = await loadTestCa(t.caDir);
    const issued = await trusted.issue({ profile: 'gateway', commonName: 'mx.intrus.example', dnsNames: ['mx.intrus.example', 'intrus.example'] });
    const r = await relaySend(t.b.relayPort, { cert: { key: issued.keyPem, cert: issued.certPem }, from: 'dr.x@intrus.example', to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toContain('5.7.1 Domain intrus.example not in the MSSante whitelist');
  });

  it('refuses a whitelisted sender domain the peer certificate does not name', async () => {
    const trusted = await loadTestCa(t.caDir);
    const issued = await trusted.issue({ profile: 'gateway', commonName: 'mx.labo-biotest', dnsNames: ['labo-biotest.medgate.test'] });
    const r = await relaySend(t.b.relayPort, { cert: { key: issued.keyPem, cert: issued.certPem }, from: PAUL, to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toContain('5.7.1 Sender domain cabinet-antony.medgate.test is not named in the peer gateway certificate');
  });

  it('refuses a sender unknown to the directory', async () => {
    const r = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: 'inconnu@cabinet-antony.medgate.test', to: [CLAIRE], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toContain('5.7.1 Sender inconnu@cabinet-antony.medgate.test unknown or not active in the health directory');
  });

  it('refuses a recipient that is not a local mailbox', async () => {
    const r = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: ['personne@cardio-sceaux.medgate.test'], raw: sealedByCli, ca });
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toContain('5.1.1 Recipient personne@cardio-sceaux.medgate.test is not a mailbox of this gateway');
  });

  it('refuses a plain unencrypted message', async () => {
    const r = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: rawMessage('En clair', 'Ceci est en clair.'), ca });
    expect(r).toMatchObject({ ok: false, code: 554 });
    expect(r.response).toContain('5.7.1 Only sealed (medgate/1) messages are accepted on the relay port');
  });

  it('refuses a routing header signed by another key than the sender\'s', async () => {
    const forger = await generatePgpKey('Forger', PAUL);
    const exportA = JSON.parse(fs.readFileSync(path.join(t.root, 'export-b.json'), 'utf8')) as { gateway: { filingKey: string }; entries: Array<{ address: string; pgpPublicKey: string }> };
    const claireKey = await readPublicKey(exportA.entries.find((e) => e.address === CLAIRE)!.pgpPublicKey);
    const bFiling = await readPublicKey(exportA.gateway.filingKey);
    const forged = await seal({
      raw: Buffer.from(rawMessage('Forged', 'Forged body.')),
      routing: {
        messageId: '<forged@x>', patient: null, document: { type: 'other', date: '2026-06-02' },
        sender: { address: PAUL }, recipients: [CLAIRE],
      },
      signingKey: forger.privateKey, recipientKeys: [claireKey], filingKeys: [bFiling], envelope: { from: PAUL, to: [CLAIRE] },
    });
    const r = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: forged.sealed, ca });
    expect(r).toMatchObject({ ok: false, code: 554 });
    expect(r.response).toMatch(/5\.7\.0 Routing header refused: SIGNATURE_INVALID/);
  }, 30_000);

  it('a large message changed in the spool while it arrives is not judged on the changed bytes: 451, nothing placed, no refusal recorded; sent again it is delivered', async () => {
    const raw = rawMessage('Gros compte rendu', 'Ligne du compte rendu de consultation, assez longue pour remplir.\r\n'.repeat(24_000));
    const s = await runCli(['message', 'seal', '--from', PAUL, '--to', CLAIRE, '--password', PASSWORD, '--config', t.a.config], { input: raw });
    expect(s.code, s.stderr).toBe(0);
    const sealed = Buffer.from(s.stdout, 'latin1');
    // Above the relay's 1 MiB header read: a head read back from the spool would stop before the GCM tag.
    expect(sealed.length).toBeGreaterThan(1_300_000);
    const routingAt = sealed.indexOf('X-Medgate-Routing:');
    expect(routingAt).toBeGreaterThan(0);
    const flipAt = routingAt + 300; // inside the routing header's armoured OpenPGP message
    const spoolDir = path.join(t.b.dir, 'data', 'spool');
    const firstPart = sealed.subarray(0, 1_200_000);
    const auditBefore = (await t.b.cli('audit', 'list', '--limit', '100000')).stdout.split('\n').filter((l) => l.includes('relay-routing-refused')).length;
    const before = (await mailboxBlobs(t.b, CLAIRE)).length;
    const stream = Readable.from((async function* () {
      yield firstPart;
      // While the rest is still on its way, one bit of the routing header is changed on disk.
      const file = await waitFor(() => {
        const f = fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir).find((n) => /^relay-.*\.eml$/.test(n) && !n.includes('sealed')) : undefined;
        return f && fs.statSync(path.join(spoolDir, f)).size >= flipAt + 1 ? path.join(spoolDir, f) : undefined;
      }, 20_000, 'the spool file');
      const fd = fs.openSync(file, 'r+');
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, flipAt);
      b[0] = b[0]! ^ 0x01;
      fs.writeSync(fd, b, 0, 1, flipAt);
      fs.closeSync(fd);
      yield sealed.subarray(firstPart.length);
    })());
    const r = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: stream, ca });
    // Judged on the block as received (valid), then refused when the changed spool fails its tag check.
    expect(r).toMatchObject({ ok: false, code: 451 });
    expect((await mailboxBlobs(t.b, CLAIRE)).length).toBe(before);
    const auditAfter = (await t.b.cli('audit', 'list', '--limit', '100000')).stdout.split('\n').filter((l) => l.includes('relay-routing-refused')).length;
    expect(auditAfter).toBe(auditBefore);
    // The peer keeps the message and sends it again: delivered, and Claire reads it.
    const again = await relaySend(t.b.relayPort, { cert: gatewayCert(t.a), from: PAUL, to: [CLAIRE], raw: sealed, ca });
    expect(again).toMatchObject({ ok: true });
    const after = (await mailboxBlobs(t.b, CLAIRE));
    expect(after.length).toBe(before + 1);
    expect(sha256(after[after.length - 1]!)).toBe(sha256(sealed));
  }, 90_000);

  it('writes every refusal to the audit trail with its code', async () => {
    const audit = await t.b.cli('audit', 'list', '--limit', '1000');
    expect(audit.code, audit.stderr).toBe(0);
    const text = audit.stdout;
    for (const reason of ['relay-no-client-certificate', 'relay-certificate-refused', 'relay-domain-not-whitelisted', 'relay-sender-not-active', 'relay-not-sealed', 'relay-routing-refused']) {
      expect(text).toContain(reason);
    }
    expect(text).toContain('message.relay.accept');
  });
});
