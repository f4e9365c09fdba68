import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspect, isEncryptedMessage, open, openRoutingHeader, seal, CryptoErrorCode } from '../../src/crypto/seal/index.js';
import { directory, hprimAsAttachment, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let sender: TestUser, alice: TestUser, bob: TestUser, filing: TestUser, lab: TestUser;
beforeAll(async () => {
  [sender, alice, bob, filing, lab] = await Promise.all([
    makeUser('paul.demo@cabinet-antony.medgate.test'),
    makeUser('claire.martin@cardio-sceaux.medgate.test'),
    makeUser('bob.second@cardio-sceaux.medgate.test'),
    makeUser('filing@rmp.medgate.test'),
    makeUser('labo@bio-antony.medgate.test'),
  ]);
});

async function sealFor(raw: Buffer, from: TestUser = sender) {
  return seal({
    raw,
    routing: routingFor(from.email, [alice.email, bob.email], '<demande-avis-0001@cabinet-antony.medgate.test>'),
    signingKey: from.privateKey,
    recipientKeys: [alice.publicKey, bob.publicKey, sender.publicKey],
    filingKeys: [filing.publicKey],
    envelope: { from: sender.email, to: [alice.email, bob.email] },
  });
}

describe('seal → open round trip', () => {
  it('gives back the original bytes to every recipient and to the sender (Sent copy)', async () => {
    const raw = outlookSample();
    const { sealed, messageId, alreadyEncrypted } = await sealFor(raw);
    expect(alreadyEncrypted).toBe(false);
    expect(messageId).toMatch(/^<[0-9a-f]{32}@cabinet-antony\.medgate\.test>$/);
    const resolveSigner = directory([{ user: sender }]);
    for (const user of [alice, bob, sender]) {
      const opened = await open({ sealed, decryptionKey: user.privateKey, resolveSigner });
      expect(sha256(opened.raw)).toBe(sha256(raw));
      expect(opened.verification).toMatchObject({ valid: true, signer: sender.email, fingerprint: sender.publicKey.getFingerprint() });
      expect(opened.verification.identity).toEqual({ rpps: '10001234567' });
      expect(opened.routing?.patient?.familyName).toBe('DUPONT');
      expect(opened.routing?.contentDigest).toMatch(/^[0-9a-f]{64}$/);
    }
    // The directory was asked with the inner From address and the issuer key id.
    expect(resolveSigner.calls[0]).toEqual({ address: sender.email, keyIds: [expect.stringMatching(/^[0-9a-f]{16}$/)] });
  });

  it('keeps multipart messages with attachments byte-exact', async () => {
    const raw = await hprimAsAttachment();
    const { sealed } = await sealFor(raw, lab);
    const opened = await open({ sealed, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: lab }]) });
    expect(opened.raw.equals(raw)).toBe(true);
    expect(opened.verification.signer).toBe(lab.email);
  });

  it('restores odd inputs exactly: LF line ends, no Content-Type, no body, no final newline', async () => {
    const cases = [
      Buffer.from('From: paul.demo@cabinet-antony.medgate.test\nSubject: x\nContent-Type: text/plain;\n charset="utf-8"\n\nbody\n'),
      Buffer.from('From: paul.demo@cabinet-antony.medgate.test\r\nSubject: no content type\r\n\r\nhello\r\n'),
      Buffer.from('From: paul.demo@cabinet-antony.medgate.test\r\nSubject: headers only\r\n'),
      Buffer.from('From: paul.demo@cabinet-antony.medgate.test\r\nSubject: no newline at all'),
      Buffer.from('Content-Type: text/plain; protected-headers="v1"\r\nFrom: paul.demo@cabinet-antony.medgate.test\r\n\r\nx'),
      Buffer.from('\r\nbody without any header'),
    ];
    for (const raw of cases) {
      const { sealed } = await sealFor(raw);
      const opened = await open({ sealed, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
      expect(opened.raw.toString('latin1')).toBe(raw.toString('latin1'));
    }
  });

  it('opens the routing header with the filing key alone, but not the content', async () => {
    const { sealed } = await sealFor(outlookSample());
    const resolveSigner = directory([{ user: sender }]);
    const { routing, verification } = await openRoutingHeader({ sealed, decryptionKey: filing.privateKey, resolveSigner });
    expect(routing).toMatchObject({ v: 1, messageId: '<demande-avis-0001@cabinet-antony.medgate.test>', recipients: [alice.email, bob.email] });
    expect(routing.patient).toMatchObject({ familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' });
    expect(verification.fingerprint).toBe(sender.publicKey.getFingerprint());
    await expect(open({ sealed, decryptionKey: filing.privateKey, resolveSigner })).rejects.toMatchObject({ code: CryptoErrorCode.NOT_FOR_THIS_KEY });
  });

  it('shows only transport fields and the RFC 3156 skeleton in clear', async () => {
    const { sealed, messageId } = await sealFor(outlookSample());
    const view = inspect(sealed);
    expect(view.outerHeaders.map(([n]) => n)).toEqual(['From', 'To', 'Date', 'Message-ID', 'Subject', 'MIME-Version', 'X-Medgate-Format', 'X-Medgate-Routing', 'Content-Type']);
    expect(Object.fromEntries(view.outerHeaders)).toMatchObject({
      From: sender.email,
      To: 'claire.martin@cardio-sceaux.medgate.test',
      Date: 'Mon, 23 Nov 2026 08:14:02 +0000',
      'Message-ID': messageId,
      Subject: '[...]',
      'X-Medgate-Format': 'medgate/1; body=sealed',
    });
    expect(view.structure).toEqual(['multipart/encrypted; protocol="application/pgp-encrypted"', '  application/pgp-encrypted', '  application/octet-stream']);
    expect(view.routingCarrierPresent).toBe(true);
    expect(view.alreadyEncrypted).toBe(false);
    expect(isEncryptedMessage(sealed)).toBe(true);
    expect(isEncryptedMessage(outlookSample())).toBe(false);
    // Lines stay within RFC 5322's 998-octet limit.
    expect(Math.max(...sealed.toString('latin1').split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
  });

  it('carries RFC 9788 header protection inside: original headers, hp/protected-headers, HP-Outer', async () => {
    const { sealed, messageId } = await sealFor(outlookSample());
    const { decryptAndVerify } = await import('../../src/crypto/seal/pgp.js');
    const { armoredPayload } = await import('../../src/crypto/seal/sealed-message.js');
    const { data } = await decryptAndVerify({
      encrypted: { armored: await armoredPayload(sealed) },
      decryptionKey: alice.privateKey,
      resolveSigner: directory([{ user: sender }]),
      addressOf: () => sender.email,
      what: 'message',
    });
    const inner = Buffer.from(data).toString('utf8');
    const head = inner.slice(0, inner.indexOf('\r\n\r\n'));
    expect(head).toContain('Subject: PATIENT: DUPONT Jean 30/01/1959');
    expect(head).toContain('Content-Type: text/plain; charset=utf-8; hp="cipher"; protected-headers="v1"');
    expect(head).toContain('HP-Outer: Subject: [...]');
    expect(head).toContain(`HP-Outer: Message-ID: ${messageId}`);
    expect(head).toContain('X-Medgate-Patient-Family-Name: DUPONT');
  });
});
