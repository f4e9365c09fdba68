/** Interoperability with GnuPG: it reads what medgate seals, and medgate does not re-encrypt what gpg encrypted. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect, isEncryptedMessage, open, openRoutingHeader, seal } from '../../src/crypto/seal/index.js';
import { restoreOriginal } from '../../src/crypto/seal/inner-entity.js';
import { directory, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

let sender: TestUser, recipient: TestUser, filing: TestUser;
let home: string;

function gpg(args: string[], input?: Buffer): { stdout: Buffer; status: string } {
  const statusFile = join(home, 'status.txt');
  const stdout = execFileSync('gpg', ['--batch', '--no-tty', '--trust-model', 'always', '--status-file', statusFile, ...args], {
    env: { ...process.env, GNUPGHOME: home },
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return { stdout, status: execFileSync('cat', [statusFile]).toString() };
}

beforeAll(async () => {
  [sender, recipient, filing] = await Promise.all([
    makeUser('paul.demo@cabinet-antony.medgate.test'),
    makeUser('claire.martin@cardio-sceaux.medgate.test'),
    makeUser('filing@rmp.medgate.test'),
  ]);
  home = mkdtempSync(join(tmpdir(), 'medgate-gpg-'));
  gpg(['--import'], Buffer.from(recipient.armoredPrivate));
});

afterAll(() => {
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: home } });
  rmSync(home, { recursive: true, force: true });
});

function armoredPart(sealed: Buffer): Buffer {
  const text = sealed.toString('latin1');
  const start = text.indexOf('-----BEGIN PGP MESSAGE-----');
  const end = text.indexOf('-----END PGP MESSAGE-----') + '-----END PGP MESSAGE-----'.length;
  return Buffer.from(text.slice(start, end) + '\r\n', 'latin1');
}

describe('GnuPG reads medgate/1', () => {
  it('decrypts the body: original Subject and patient fields inside, good signature from the sender', async () => {
    const raw = outlookSample();
    const { sealed } = await seal({
      raw,
      routing: routingFor(sender.email, [recipient.email], '<demande-avis-0001@cabinet-antony.medgate.test>'),
      signingKey: sender.privateKey,
      recipientKeys: [recipient.publicKey, sender.publicKey],
      filingKeys: [filing.publicKey],
      envelope: { from: sender.email, to: [recipient.email] },
    });
    gpg(['--import'], Buffer.from(sender.armoredPublic));
    const { stdout, status } = gpg(['--decrypt'], armoredPart(sealed));
    const inner = stdout.toString('utf8');
    expect(inner).toContain('Subject: PATIENT: DUPONT Jean 30/01/1959 - demande d\'avis cardiologique');
    expect(inner).toContain('X-Medgate-Patient-Family-Name: DUPONT');
    expect(inner).toContain('X-Medgate-Patient-NIR: 159018002121980');
    expect(status).toMatch(new RegExp(`GOODSIG ${sender.publicKey.getKeyID().toHex().toUpperCase()}`));
    expect(status).toContain(`VALIDSIG ${sender.publicKey.getFingerprint().toUpperCase()}`);
    // What gpg verified is exactly the inner entity medgate restores the original from.
    expect(restoreOriginal(stdout).equals(raw)).toBe(true);
  });
});

describe('client-encrypted input is not encrypted twice', () => {
  async function gpgPgpMime(): Promise<Buffer> {
    const inner = Buffer.from(
      'Content-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu de M. DUPONT Jean, né le 30/01/1959.\r\n',
      'utf8',
    );
    const recipientFile = join(home, 'recipient.asc');
    writeFileSync(recipientFile, recipient.armoredPublic);
    gpg(['--import', recipientFile]);
    const { stdout: armored } = gpg(['--armor', '--encrypt', '--recipient', recipient.email], inner);
    return Buffer.from(
      [
        'From: "Dr Paul DEMO" <paul.demo@cabinet-antony.medgate.test>',
        'To: claire.martin@cardio-sceaux.medgate.test',
        'Subject: PATIENT: DUPONT Jean 30/01/1959',
        'Date: Mon, 23 Nov 2026 09:14:02 +0100',
        'Message-ID: <pgpmime-0001@cabinet-antony.medgate.test>',
        'X-Medgate-Patient-Family-Name: DUPONT',
        'MIME-Version: 1.0',
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";',
        ' boundary="gpgboundary"',
        '',
        '--gpgboundary',
        'Content-Type: application/pgp-encrypted',
        '',
        'Version: 1',
        '',
        '--gpgboundary',
        'Content-Type: application/octet-stream; name="encrypted.asc"',
        '',
        armored.toString('latin1').replace(/\r?\n/g, '\r\n') + '--gpgboundary--',
        '',
      ].join('\r\n'),
      'latin1',
    );
  }

  it('keeps the gpg body, adds a verifiable routing header, drops clear patient fields', async () => {
    const raw = await gpgPgpMime();
    expect(isEncryptedMessage(raw)).toBe(true);
    const { sealed, alreadyEncrypted } = await seal({
      raw,
      routing: routingFor(sender.email, [recipient.email], '<pgpmime-0001@cabinet-antony.medgate.test>'),
      signingKey: sender.privateKey,
      recipientKeys: [recipient.publicKey, sender.publicKey],
      filingKeys: [filing.publicKey],
      envelope: { from: sender.email, to: [recipient.email] },
    });
    expect(alreadyEncrypted).toBe(true);
    const text = sealed.toString('latin1');
    expect(text.split('-----BEGIN PGP MESSAGE-----')).toHaveLength(2);
    const rawBody = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
    expect(sealed.subarray(sealed.indexOf('\r\n\r\n') + 4).equals(rawBody)).toBe(true);
    expect(text).not.toMatch(/DUPONT|1959/);
    expect(inspect(sealed)).toMatchObject({ alreadyEncrypted: true, routingCarrierPresent: true });

    const resolveSigner = directory([{ user: sender }]);
    const { routing } = await openRoutingHeader({ sealed, decryptionKey: filing.privateKey, resolveSigner });
    expect(routing.messageId).toBe('<pgpmime-0001@cabinet-antony.medgate.test>');
    const opened = await open({ sealed, decryptionKey: recipient.privateKey, resolveSigner });
    expect(opened.raw.subarray(opened.raw.indexOf('\r\n\r\n') + 4).equals(rawBody)).toBe(true);
    expect(opened.raw.toString('latin1')).not.toContain('X-Medgate-Routing');
    // The recipient's own client (here gpg) still decrypts the kept body.
    const { stdout } = gpg(['--decrypt'], armoredPart(sealed));
    expect(stdout.toString('utf8')).toContain('DUPONT Jean');
  });

  it('recognises S/MIME enveloped data made by openssl, and not S/MIME signatures', () => {
    const cert = join(home, 'cert.pem');
    const key = join(home, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=test', '-days', '1'], { stdio: 'pipe' });
    const content = join(home, 'content.txt');
    writeFileSync(content, 'Content-Type: text/plain\r\n\r\nDUPONT Jean\r\n');
    const enveloped = execFileSync('openssl', ['cms', '-encrypt', '-aes256', '-in', content, '-subject', 'x', cert]);
    const signed = execFileSync('openssl', ['cms', '-sign', '-nodetach', '-in', content, '-signer', cert, '-inkey', key]);
    expect(isEncryptedMessage(enveloped)).toBe(true);
    expect(isEncryptedMessage(signed)).toBe(false);
  });
});
