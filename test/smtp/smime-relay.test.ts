/**
 * Issue 15, S/MIME between gateways with OpenSSL as the independent peer: two medgate gateways
 * (mutual TLS relay, shared test CA). A asks for S/MIME for Claire (`smime.prefer`), so her copy
 * is CMS; OpenSSL opens it. Messages made by `openssl cms` are relayed to B and opened over IMAP
 * (imapflow) with the verdict fields; a tampered one fails; a revoked signer is refused. A mixed
 * submission reaches an OpenPGP and an S/MIME reader, and the record server files it once.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { isSmimeEncryptionCertificate, readCertificateInfo } from '../../dist/pki/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import {
  A_DOMAIN, B_DOMAIN, CLAIRE, JL, PASSWORD, PAUL, accountCert, caPem, filedDocuments, mailboxBlobs, pendingQueue, portsOf, revoke, setupTwoGateways, startInProcess, submitter, waitFor,
  type GatewayHandle, type TwoGateways,
} from './relay-fixture.js';

const RMP = `rmp@${B_DOMAIN}`;
const PATIENT_HEADERS = ['X-Medgate-Patient-Nom: DUPONT', 'X-Medgate-Patient-Prenom: Jean', 'X-Medgate-Patient-Naissance: 30/01/1959'];

function crlf(lines: string[]): string {
  return lines.join('\r\n');
}

function openssl(args: string[], input?: Buffer | string): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function gatewayCert(g: GatewayHandle): { key: string; cert: string } {
  return {
    key: fs.readFileSync(path.join(g.dir, 'data', 'tls', 'gateway.key.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(g.dir, 'data', 'tls', 'gateway.crt.pem'), 'utf8'),
  };
}

type RelayResult = { ok: true; response: string } | { ok: false; code: number | undefined; response: string };

/** A peer gateway (A's TLS identity) delivering straight to B's relay port, as a hospital's S/MIME gateway would. */
async function relaySend(t: TwoGateways, o: { from: string; to: string[]; raw: Buffer }): Promise<RelayResult> {
  const c = gatewayCert(t.a);
  const transport = nodemailer.createTransport({
    host: '127.0.0.1', port: t.b.relayPort, secure: false, requireTLS: true,
    tls: { ca: caPem(t), key: c.key, cert: c.cert, servername: 'localhost' },
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

/** The opened sources of a mailbox, as the user's client fetches them. */
async function fetchAll(t: TwoGateways, g: GatewayHandle, user: string): Promise<string[]> {
  const c = new ImapFlow({
    host: '127.0.0.1', port: portsOf(g)['imapTls']!, secure: true, logger: false,
    tls: { ca: caPem(t), servername: 'localhost' }, auth: { user, pass: PASSWORD },
  });
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const out: string[] = [];
    if ((c.mailbox as { exists: number }).exists === 0) return out;
    for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!.toString('utf8'));
    return out;
  } finally {
    await c.logout();
  }
}

/**
 * The first message the user's client fetches that `matches`, once it is there: a client logs in
 * and fetches again only when the mailbox has changed (its size, read through the store), not on
 * every poll — each fetch opens every message of the INBOX.
 */
async function fetchedWhen(t: TwoGateways, g: GatewayHandle, user: string, matches: (source: string) => boolean, what: string): Promise<string> {
  const store = await g.store();
  let fetchedAt = -1;
  return waitFor(async () => {
    const box = await store.mail.getMailbox(user, 'INBOX');
    const count = box ? (await store.mail.listMessages(box.id)).length : 0;
    if (count === fetchedAt) return undefined;
    fetchedAt = count;
    return (await fetchAll(t, g, user)).find(matches);
  }, 30_000, what);
}

async function opened(t: TwoGateways, g: GatewayHandle, user: string, marker: string): Promise<string> {
  return fetchedWhen(t, g, user, (s) => s.includes(marker), `${marker} in ${user}'s INBOX`);
}

/** An RFC 5322 message as a doctor's client writes it: the S/MIME content OpenSSL signs. */
function innerMessage(from: string, to: string, subject: string, body: string): string {
  return crlf([`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, 'Date: Tue, 02 Jun 2026 10:00:00 +0200',
    'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body, '']);
}

/** OpenSSL's output with the transport fields a sending gateway adds (Message-ID, Date). */
function withTransportFields(smime: Buffer, messageId: string): Buffer {
  return Buffer.concat([Buffer.from(`Message-ID: ${messageId}\r\nDate: Tue, 02 Jun 2026 10:00:01 +0200\r\n`), smime]);
}

describeOnStores('S/MIME between gateways, OpenSSL as the independent peer', (store) => {
  let t: TwoGateways;
  let dir: string;

  beforeAll(async () => {
    // Both gateways in this process (the wiring serve uses): no process to kill here.
    t = await setupTwoGateways({
      store, inProcess: true, certOut: true,
      extraUsers: { a: [[JL, '10100000041']] },
      serviceAccounts: { b: [{ address: RMP, kind: 'rmp' }] },
      config: { a: { smime: { prefer: [CLAIRE] } } },
    });
    await Promise.all([startInProcess(t.a), startInProcess(t.b)]);
    dir = path.join(t.root, 'openssl');
    fs.mkdirSync(dir);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  it('user add issued Claire both keys: A\'s directory holds an OpenPGP key and an S/MIME encryption certificate for her', async () => {
    // What `medgate directory show` prints, read through the directory service and the same
    // certificate test the sealer applies when it chooses S/MIME.
    const [entry] = await t.a.ctx!.directory.find(CLAIRE);
    expect(entry?.pgpPublicKey).toBeTruthy();
    expect(entry?.certificatePem).toBeTruthy();
    expect(isSmimeEncryptionCertificate(entry!.certificatePem!, CLAIRE)).toBe(true);
    expect(readCertificateInfo(entry!.certificatePem!).emails).toContain(CLAIRE);
  });

  it('medgate seals S/MIME for an S/MIME recipient via the relay: openssl cms -decrypt -verify opens it, patient inside only; Claire reads it over IMAP with a valid verdict', async () => {
    const raw = crlf([`From: Paul Demo <${PAUL}>`, `To: ${CLAIRE}`, 'Subject: Avis cardiologique DUPONT', 'Date: Tue, 02 Jun 2026 10:00:00 +0200',
      `Message-ID: <avis-smime-1@${A_DOMAIN}>`, ...PATIENT_HEADERS, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '',
      'Bonjour, merci de voir M. DUPONT (marqueur smime-1).', '']);
    const tr = submitter(t, t.a, PAUL);
    try {
      expect((await tr.sendMail({ envelope: { from: PAUL, to: [CLAIRE] }, raw })).response).toMatch(/^250 /);
    } finally { tr.close(); }
    const [stored] = await waitFor(async () => { const b = (await mailboxBlobs(t.b, CLAIRE)); return b.length ? b : undefined; }, 30_000, 'the S/MIME copy on B');
    const outer = stored!.toString('latin1');
    expect(outer).toMatch(/^Content-Type: application\/pkcs7-mime; smime-type=enveloped-data/m);
    expect(outer).toMatch(/^X-Medgate-Format: medgate\/1; body=smime/m);
    // Base64 runs (the armored routing header, the PKCS#7 body) are searched decoded: read as text,
    // 10 KB of random base64 holds "jean" or "1959" about once in a hundred messages (a full run
    // failed on one), and a leak there would be clear bytes base64-encoded, which decoding shows.
    for (const text of clearTextAndDecodedBase64(outer)) expect(text).not.toMatch(/DUPONT|Jean|1959|cardiologique|smime-1/i);

    const claire = accountCert(t, CLAIRE);
    const decrypted = openssl(['cms', '-decrypt', '-recip', claire.cert, '-inkey', claire.key], stored);
    const inner = openssl(['cms', '-verify', '-CAfile', path.join(t.caDir, 'ca.pem'), '-purpose', 'smimesign'], decrypted).toString('utf8');
    expect(inner).toMatch(/^X-Medgate-Patient-Nom: DUPONT\r?$/m);
    expect(inner).toMatch(/^Subject: Avis cardiologique DUPONT\r?$/m);
    expect(inner).toContain('marqueur smime-1');
    // The signer OpenSSL verified is Paul's account certificate.
    const signer = path.join(dir, 'signer-1.pem');
    openssl(['cms', '-verify', '-CAfile', path.join(t.caDir, 'ca.pem'), '-purpose', 'smimesign', '-signer', signer, '-out', '/dev/null'], decrypted);
    expect(openssl(['x509', '-in', signer, '-noout', '-ext', 'subjectAltName']).toString()).toContain(PAUL);

    const source = await opened(t, t.b, CLAIRE, 'marqueur smime-1');
    expect(source).toMatch(new RegExp(`^X-Medgate-Signature: valid; signer=${PAUL.replace(/\./g, '\\.')}; fingerprint=[0-9a-f]{64}\r\n`));
    expect(source).toMatch(/^X-Medgate-Patient-Nom: DUPONT\r$/m);
  }, 90_000);

  it('openssl cms -sign (opaque) | openssl cms -encrypt over the peer relay: accepted, opened over IMAP with a valid verdict', async () => {
    const paul = accountCert(t, PAUL);
    const claire = accountCert(t, CLAIRE);
    const signed = openssl(['cms', '-sign', '-nodetach', '-signer', paul.cert, '-inkey', paul.key, '-md', 'sha256'],
      innerMessage(PAUL, CLAIRE, 'Compte rendu OpenSSL', 'Texte signe puis chiffre par OpenSSL (marqueur openssl-1).'));
    const sealed = openssl(['cms', '-encrypt', '-aes256', '-from', PAUL, '-to', CLAIRE, '-subject', '[...]', claire.cert], signed);
    const res = await relaySend(t, { from: PAUL, to: [CLAIRE], raw: withTransportFields(sealed, `<openssl-1@${A_DOMAIN}>`) });
    expect(res.ok, res.response).toBe(true);
    expect(res.response).toMatch(/^250 2\.6\.0 Delivered as <openssl-1@/);
    const source = await opened(t, t.b, CLAIRE, 'marqueur openssl-1');
    expect(source).toMatch(new RegExp(`^X-Medgate-Signature: valid; signer=${PAUL.replace(/\./g, '\\.')}; fingerprint=[0-9a-f]{64}\r\n`));
    expect(source).toMatch(/^X-Medgate-Signer: .*Paul/m);
    expect(source).toMatch(/^Subject: Compte rendu OpenSSL\r$/m);
  }, 60_000);

  it('a tampered byte in the signed content (detached signature, then enveloped) is shown as failing, never as valid', async () => {
    const paul = accountCert(t, PAUL);
    const claire = accountCert(t, CLAIRE);
    const signed = openssl(['cms', '-sign', '-signer', paul.cert, '-inkey', paul.key, '-md', 'sha256'],
      innerMessage(PAUL, CLAIRE, 'Resultat altere', 'Potassium 4.1 mmol/l (marqueur tamper-1).')).toString('latin1');
    expect(signed).toMatch(/multipart\/signed/);
    const tampered = signed.replace('Potassium 4.1', 'Potassium 6.1');
    expect(tampered).not.toBe(signed);
    const sealed = openssl(['cms', '-encrypt', '-aes256', '-from', PAUL, '-to', CLAIRE, '-subject', '[...]', claire.cert], Buffer.from(tampered, 'latin1'));
    const res = await relaySend(t, { from: PAUL, to: [CLAIRE], raw: withTransportFields(sealed, `<tamper-1@${A_DOMAIN}>`) });
    // The signature is inside the envelope: the relay cannot see it, the reader's opening judges it.
    expect(res.ok, res.response).toBe(true);
    const source = await fetchedWhen(t, t.b, CLAIRE, (x) => x.includes('Code: SIGNATURE_INVALID'), 'the failing verdict');
    expect(source).not.toMatch(/X-Medgate-Signature: valid/);
    expect(source).not.toContain('Potassium');
    // The untampered detached signature verifies (the failure is the byte, not the form).
    const intact = openssl(['cms', '-encrypt', '-aes256', '-from', PAUL, '-to', CLAIRE, '-subject', '[...]', claire.cert], Buffer.from(signed, 'latin1'));
    expect((await relaySend(t, { from: PAUL, to: [CLAIRE], raw: withTransportFields(intact, `<detached-1@${A_DOMAIN}>`) })).ok).toBe(true);
    expect(await opened(t, t.b, CLAIRE, 'Potassium 4.1')).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@/);
  }, 60_000);

  it('S/MIME a client encrypted itself (submission) is not encrypted twice: Claire gets it as it came, with the routing verdict, and OpenSSL opens it', async () => {
    const paul = accountCert(t, PAUL);
    const claire = accountCert(t, CLAIRE);
    const signed = openssl(['cms', '-sign', '-nodetach', '-signer', paul.cert, '-inkey', paul.key, '-md', 'sha256'],
      innerMessage(PAUL, CLAIRE, 'Chiffre par le client', 'Chiffre par Outlook (marqueur client-1).'));
    const byClient = openssl(['cms', '-encrypt', '-aes256', '-from', PAUL, '-to', CLAIRE, '-subject', '[...]', claire.cert], signed);
    const tr = submitter(t, t.a, PAUL);
    try {
      const raw = withTransportFields(byClient, `<client-1@${A_DOMAIN}>`).toString('latin1').replace(/\r?\n/g, '\r\n');
      expect((await tr.sendMail({ envelope: { from: PAUL, to: [CLAIRE] }, raw })).response).toMatch(/^250 /);
    } finally { tr.close(); }
    const stored = await waitFor(async () => (await mailboxBlobs(t.b, CLAIRE)).map((b) => b.toString('latin1')).find((b) => /body=client-encrypted/.test(b)), 30_000, 'the client-encrypted copy on B');
    expect(stored).toMatch(/^Content-Type: application\/pkcs7-mime/m);
    // Kept as the client made it: the opened view is still its CMS (the reader's own client decrypts), under medgate's outer fields.
    const source = await fetchedWhen(t, t.b, CLAIRE, (x) => /^Content-Type: application\/pkcs7-mime/m.test(x), 'the client-encrypted message over IMAP');
    expect(source).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test; fingerprint=[0-9a-f]{40}\r\n/);
    const body = source.slice(source.indexOf('From:'));
    const inner = openssl(['cms', '-verify', '-CAfile', path.join(t.caDir, 'ca.pem'), '-purpose', 'smimesign'],
      openssl(['cms', '-decrypt', '-recip', claire.cert, '-inkey', claire.key], Buffer.from(body, 'latin1'))).toString('utf8');
    expect(inner).toContain('marqueur client-1');
  }, 60_000);

  it('a signed-only S/MIME message is refused at the relay: only encrypted payloads', async () => {
    const paul = accountCert(t, PAUL);
    const signed = openssl(['cms', '-sign', '-nodetach', '-signer', paul.cert, '-inkey', paul.key, '-from', PAUL, '-to', CLAIRE, '-subject', 'clair'],
      innerMessage(PAUL, CLAIRE, 'clair', 'en clair'));
    const res = await relaySend(t, { from: PAUL, to: [CLAIRE], raw: withTransportFields(signed, `<signed-only@${A_DOMAIN}>`) });
    expect(res).toMatchObject({ ok: false, code: 554 });
    expect(res.response).toMatch(/Only encrypted messages/);
  }, 30_000);

  it('mixed recipients: JL (OpenPGP) and Claire (S/MIME) each open their copy; the record server files the item once', async () => {
    const raw = crlf([`From: Paul Demo <${PAUL}>`, `To: ${JL}, ${CLAIRE}, ${RMP}`, 'Subject: Compte rendu de consultation', 'Date: Tue, 02 Jun 2026 11:00:00 +0200',
      `Message-ID: <mixte-1@${A_DOMAIN}>`, ...PATIENT_HEADERS, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '',
      'Consultation du jour (marqueur mixte-1).', '']);
    const tr = submitter(t, t.a, PAUL);
    try {
      expect((await tr.sendMail({ envelope: { from: PAUL, to: [JL, CLAIRE, RMP] }, raw })).response).toMatch(/^250 /);
    } finally { tr.close(); }
    const jl = await opened(t, t.a, JL, 'marqueur mixte-1');
    expect(jl).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test; fingerprint=[0-9a-f]{40}\r\n/);
    const claire = await opened(t, t.b, CLAIRE, 'marqueur mixte-1');
    expect(claire).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test; fingerprint=[0-9a-f]{64}\r\n/);
    // Each reader got the format it reads.
    const jlBlob = (await mailboxBlobs(t.a, JL)).map((b) => b.toString('latin1')).find((b) => b.includes('mixte-1') || b.includes('multipart/encrypted'));
    expect(jlBlob).toMatch(/^X-Medgate-Format: medgate\/1; body=sealed/m);
    const claireBlobs = (await mailboxBlobs(t.b, CLAIRE)).map((b) => b.toString('latin1'));
    expect(claireBlobs.filter((b) => /body=smime/.test(b)).length).toBeGreaterThanOrEqual(2);
    // The record server (OpenPGP) files it once, whatever the number of copies.
    const filedByPaul = async (): Promise<number> => (await filedDocuments(t.b)).filter((d) => d.senderAddress === PAUL).length;
    const filed = await waitFor(async () => (await filedByPaul()) || undefined, 30_000, 'the filing on B');
    // Every copy relayed: B answered 250 to each, and B files a relayed copy before its 250 (a
    // second filing, if any, would be there now). No fixed wait.
    await waitFor(async () => (await pendingQueue(t.a)).length === 0, 30_000, 'A\'s queue to be delivered');
    expect(await filedByPaul()).toBe(filed);
    expect(filed).toBe(1);
    const rmp = (await mailboxBlobs(t.b, RMP)).map((b) => b.toString('latin1'));
    expect(rmp).toHaveLength(1);
    expect(rmp[0]).toMatch(/body=sealed/);
  }, 90_000);

  it('a revoked signer is refused at the relay: signature above the envelope, or inside it (the directory certificate)', async () => {
    const jl = accountCert(t, JL);
    const claire = accountCert(t, CLAIRE);
    const serial = openssl(['x509', '-in', jl.cert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    await revoke(t.a, serial);
    const inner = innerMessage(JL, CLAIRE, 'Revoque', 'Signe par un certificat revoque.');
    // Enveloped, then signed: the relay verifies the outer signature (chain + CRL).
    const enveloped = openssl(['cms', '-encrypt', '-aes256', claire.cert], inner);
    const outerSigned = openssl(['cms', '-sign', '-signer', jl.cert, '-inkey', jl.key, '-md', 'sha256', '-from', JL, '-to', CLAIRE, '-subject', '[...]'], enveloped);
    const a = await relaySend(t, { from: JL, to: [CLAIRE], raw: withTransportFields(outerSigned, `<revoked-outer@${A_DOMAIN}>`) });
    expect(a).toMatchObject({ ok: false, code: 554 });
    expect(a.response).toMatch(/S\/MIME signer refused: SIGNER_REVOKED/);
    // Signed, then enveloped: the relay checks the sender's directory certificate against the CRL.
    const signed = openssl(['cms', '-sign', '-nodetach', '-signer', jl.cert, '-inkey', jl.key, '-md', 'sha256'], inner);
    const innerSigned = openssl(['cms', '-encrypt', '-aes256', '-from', JL, '-to', CLAIRE, '-subject', '[...]', claire.cert], signed);
    const b = await relaySend(t, { from: JL, to: [CLAIRE], raw: withTransportFields(innerSigned, `<revoked-inner@${A_DOMAIN}>`) });
    expect(b).toMatchObject({ ok: false, code: 554 });
    expect(b.response).toMatch(/S\/MIME signer refused: SIGNER_REVOKED/);
    expect((await mailboxBlobs(t.b, CLAIRE)).map((x) => x.toString('latin1')).some((x) => x.includes('revoked-'))).toBe(false);
  }, 60_000);
});

/** The lines of `message` that are not base64, then each run of base64 lines decoded (latin1). */
function clearTextAndDecodedBase64(message: string): string[] {
  const clear: string[] = [];
  const decoded: string[] = [];
  let run: string[] = [];
  const endRun = (): void => {
    if (run.length) decoded.push(Buffer.from(run.join(''), 'base64').toString('latin1'));
    run = [];
  };
  for (const line of message.split(/\r?\n/)) {
    if (/^\s*[A-Za-z0-9+/]{16,}={0,2}\s*$/.test(line)) run.push(line.trim());
    else {
      endRun();
      clear.push(line);
    }
  }
  endRun();
  return [clear.join('\n'), ...decoded];
}
