/** S/MIME beside medgate/1, with OpenSSL as the independent peer (issue 15 items 1-2). */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRoutingHeader } from '../../src/crypto/seal/index.js';
import { isSmimeMessage, openSmime, sealSmime, type ResolveX509Signer, type SmimeOpenOptions } from '../../src/crypto/smime/index.js';
import { createTestCa, pemToDer, type IssuedCertificate, type TestCa } from '../../src/pki/index.js';
import { directory, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

const SENDER = 'paul.demo@cabinet-antony.medgate.test';
const RECIPIENT = 'claire.martin@chu-sceaux.medgate.test';

let dir: string;
let ca: TestCa;
let crl: string;
let sender: IssuedCertificate, recipient: IssuedCertificate, revoked: IssuedCertificate, rsaRecipient: IssuedCertificate;
let senderPgp: TestUser, filing: TestUser;

const dirStatus: Record<string, 'active' | 'suspended' | 'revoked'> = {};
const resolveX509: ResolveX509Signer = async (address) => (dirStatus[address] ? { status: dirStatus[address]!, identity: { address } } : undefined);

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function opts(sealed: Buffer, extra: Partial<SmimeOpenOptions> = {}): SmimeOpenOptions {
  return {
    sealed, recipient: { certPem: recipient.certPem, keyPem: recipient.keyPem },
    trust: { anchorsPem: [ca.certPem], crlsPem: [crl] }, resolveSigner: resolveX509, ...extra,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'medgate-smime-'));
  ca = await createTestCa({ dir: join(dir, 'ca') });
  [sender, recipient, revoked, rsaRecipient] = await Promise.all([
    ca.issue({ profile: 'user', commonName: 'Paul Demo', emails: [SENDER] }),
    ca.issue({ profile: 'user', commonName: 'Claire Martin', emails: [RECIPIENT] }),
    ca.issue({ profile: 'user', commonName: 'Ex Doctor', emails: ['ex@cabinet-antony.medgate.test'] }),
    ca.issue({ profile: 'user', commonName: 'RSA Only', emails: ['rsa@chu-sceaux.medgate.test'], keyType: 'rsa-2048' }),
  ]);
  await ca.revoke(revoked.serial, 'keyCompromise');
  crl = await ca.crlPem();
  [senderPgp, filing] = await Promise.all([makeUser(SENDER), makeUser('filing@chu-sceaux.medgate.test')]);
  Object.assign(dirStatus, { [SENDER]: 'active', [RECIPIENT]: 'active', 'ex@cabinet-antony.medgate.test': 'active' });
  file('ca.pem', ca.certPem);
  for (const [n, c] of Object.entries({ sender, recipient, revoked, rsa: rsaRecipient })) {
    file(`${n}.pem`, c.certPem);
    file(`${n}.key`, c.keyPem);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sealed(raw = outlookSample(), certs = [recipient.certPem, sender.certPem]) {
  return sealSmime({
    raw, routing: routingFor(SENDER, [RECIPIENT], '<demande-avis-0001@cabinet-antony.medgate.test>'),
    signer: { certPem: sender.certPem, keyPem: sender.keyPem }, routingSigningKey: senderPgp.privateKey,
    recipientCertsPem: certs, routingKeys: [filing.publicKey], envelope: { from: SENDER, to: [RECIPIENT] },
  });
}

describe('medgate seals S/MIME, OpenSSL opens it', () => {
  it('openssl cms -decrypt | openssl cms -verify: signature verifies, patient header inside and absent outside', async () => {
    const { sealed: msg } = await sealed();
    const outer = msg.toString('utf8');
    expect(outer).toMatch(/^Content-Type: application\/pkcs7-mime; smime-type=enveloped-data/m);
    expect(outer).toMatch(/^Subject: \[\.\.\.\]$/m);
    expect(outer).not.toMatch(/DUPONT|Patient|159018002121980/i);
    const decrypted = openssl(['cms', '-decrypt', '-recip', join(dir, 'recipient.pem'), '-inkey', join(dir, 'recipient.key')], msg);
    const inner = execFileSync('openssl', ['cms', '-verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'smimesign'], { input: decrypted, stdio: ['pipe', 'pipe', 'pipe'] });
    const text = inner.toString('utf8');
    expect(text).toContain('X-Medgate-Patient-Family-Name: DUPONT');
    expect(text).toContain('Subject: PATIENT: DUPONT Jean 30/01/1959');
    expect(text).toMatch(/hp="cipher"; protected-headers="v1"/);
    expect(text).toContain('HP-Outer: Subject: [...]');
  });

  it('the sender\'s own certificate opens the Sent copy; an RSA certificate gets RSA-OAEP', async () => {
    const { sealed: msg } = await sealed(outlookSample(), [rsaRecipient.certPem, sender.certPem]);
    for (const who of ['sender', 'rsa']) {
      const out = openssl(['cms', '-decrypt', '-recip', join(dir, `${who}.pem`), '-inkey', join(dir, `${who}.key`)], msg);
      expect(out.toString('latin1')).toContain('smime-type=signed-data');
    }
  });
});

describe('medgate opens S/MIME', () => {
  it('its own seal: byte-identical original, verdict from the certificate, routing header bound to the content', async () => {
    const raw = outlookSample();
    const { sealed: msg } = await sealed(raw);
    expect(isSmimeMessage(msg)).toBe(true);
    const res = await openSmime(opts(msg, { routing: { decryptionKey: filing.privateKey, resolveSigner: directory([{ user: senderPgp }]) } }));
    expect(res.raw.equals(raw)).toBe(true);
    expect(res.encrypted).toBe(true);
    expect(res.verification.signer).toBe(SENDER);
    expect(res.verification.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(res.routing?.patient?.familyName).toBe('DUPONT');
    // The record server's view: the routing header alone, with the filing key, as for PGP/MIME bodies.
    const routing = await openRoutingHeader({ sealed: msg, decryptionKey: filing.privateKey, resolveSigner: directory([{ user: senderPgp }]) });
    expect(routing.routing.recipients).toEqual([RECIPIENT]);
  });

  const plain = (from: string) => Buffer.from(`From: ${from}\r\nTo: ${RECIPIENT}\r\nSubject: Compte rendu\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\nrésultats normaux.\r\n`, 'utf8');

  it('openssl cms -sign (opaque) | openssl cms -encrypt: opened, signature valid', () => {
    const signed = openssl(['cms', '-sign', '-nodetach', '-signer', join(dir, 'sender.pem'), '-inkey', join(dir, 'sender.key')], plain(SENDER));
    const msg = openssl(['cms', '-encrypt', '-aes-256-cbc', '-from', SENDER, '-to', RECIPIENT, '-subject', 'sealed', join(dir, 'recipient.pem')], signed);
    return openSmime(opts(msg)).then((res) => {
      expect(res.signature).toBe('opaque');
      expect(res.encrypted).toBe(true);
      expect(res.verification.signer).toBe(SENDER);
      expect(res.raw.toString('utf8')).toContain('résultats normaux');
      expect(res.routing).toBeNull();
    });
  });

  it('openssl cms -sign (detached multipart/signed) | openssl cms -encrypt, and encrypt-then-sign: both opened', async () => {
    const signed = openssl(['cms', '-sign', '-signer', join(dir, 'sender.pem'), '-inkey', join(dir, 'sender.key')], plain(SENDER));
    expect(signed.toString('latin1')).toContain('multipart/signed');
    const msg = openssl(['cms', '-encrypt', '-aes-256-cbc', '-from', SENDER, '-to', RECIPIENT, '-subject', 'x', join(dir, 'recipient.pem')], signed);
    const res = await openSmime(opts(msg));
    expect(res.signature).toBe('detached');
    expect(res.raw.toString('utf8')).toContain('résultats normaux');

    const enc = openssl(['cms', '-encrypt', '-aes-128-cbc', join(dir, 'recipient.pem')], plain(SENDER));
    const outer = openssl(['cms', '-sign', '-nodetach', '-from', SENDER, '-to', RECIPIENT, '-subject', 'x', '-signer', join(dir, 'sender.pem'), '-inkey', join(dir, 'sender.key')], enc);
    const res2 = await openSmime(opts(outer));
    expect(res2.encrypted).toBe(true);
    expect(res2.verification.signer).toBe(SENDER);
  });

  it('a tampered byte fails: in signed content (SIGNATURE_INVALID) and in ciphertext', async () => {
    const signed = openssl(['cms', '-sign', '-nodetach', '-binary', '-outform', 'DER', '-signer', join(dir, 'sender.pem'), '-inkey', join(dir, 'sender.key')], plain(SENDER));
    const at = signed.indexOf(Buffer.from('normaux'));
    signed[at] = 'N'.charCodeAt(0);
    const msg = Buffer.concat([
      Buffer.from('Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'),
      Buffer.from(signed.toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n'),
    ]);
    await expect(openSmime(opts(msg))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });

    const { sealed: good } = await sealed();
    const text = good.toString('latin1');
    const body = text.length - 300; // inside the encrypted content, past the recipient infos
    const flipped = Buffer.from(text.slice(0, body) + (text[body] === 'A' ? 'B' : 'A') + text.slice(body + 1), 'latin1');
    await expect(openSmime(opts(flipped))).rejects.toMatchObject({ name: 'CryptoError' });
  });

  it('a revoked signer is refused (CRL), an untrusted one too, and a certificate not naming From', async () => {
    const sign = (who: string, from: string) => openssl(['cms', '-sign', '-nodetach', '-signer', join(dir, `${who}.pem`), '-inkey', join(dir, `${who}.key`)], plain(from));
    await expect(openSmime(opts(sign('revoked', 'ex@cabinet-antony.medgate.test')))).rejects.toMatchObject({ code: 'SIGNER_REVOKED' });
    const other = await createTestCa({ dir: join(dir, 'other-ca'), commonName: 'rogue CA' });
    await expect(openSmime(opts(sign('sender', SENDER), { trust: { anchorsPem: [other.certPem] } }))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    await expect(openSmime(opts(sign('sender', RECIPIENT)))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    dirStatus[SENDER] = 'suspended';
    try {
      await expect(openSmime(opts(sign('sender', SENDER)))).rejects.toMatchObject({ code: 'SIGNER_REVOKED' });
    } finally {
      dirStatus[SENDER] = 'active';
    }
  });

  it('a certificate pinned at first opening keeps old mail readable after its revocation; another certificate does not pass for it', async () => {
    const msg = openssl(['cms', '-sign', '-nodetach', '-signer', join(dir, 'revoked.pem'), '-inkey', join(dir, 'revoked.key')], plain('ex@cabinet-antony.medgate.test'));
    const pin = createHash('sha256').update(pemToDer(revoked.certPem, 'CERTIFICATE')).digest('hex');
    const res = await openSmime(opts(msg, { pinnedCertificate: pin }));
    expect(res.verification).toMatchObject({ valid: true, signer: 'ex@cabinet-antony.medgate.test', fingerprint: pin });
    dirStatus['ex@cabinet-antony.medgate.test'] = 'revoked';
    try {
      await expect(openSmime(opts(msg, { pinnedCertificate: pin }))).resolves.toMatchObject({ verification: { valid: true } });
      const otherPin = createHash('sha256').update(pemToDer(sender.certPem, 'CERTIFICATE')).digest('hex');
      await expect(openSmime(opts(msg, { pinnedCertificate: otherPin }))).rejects.toMatchObject({ code: 'SIGNER_REVOKED' });
    } finally {
      dirStatus['ex@cabinet-antony.medgate.test'] = 'active';
    }
  });

  it('not encrypted to this certificate: NOT_FOR_THIS_KEY', async () => {
    const { sealed: msg } = await sealed(outlookSample(), [rsaRecipient.certPem]);
    await expect(openSmime(opts(msg))).rejects.toMatchObject({ code: 'NOT_FOR_THIS_KEY' });
  });
});
