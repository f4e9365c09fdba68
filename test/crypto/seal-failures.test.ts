/** Every way opening can fail gives a typed CryptoError with the documented code, never an untyped error. */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { CryptoError, CryptoErrorCode, open, openRoutingHeader, seal, type ResolveSigner } from '../../src/crypto/seal/index.js';
import { buildInnerEntity } from '../../src/crypto/seal/inner-entity.js';
import { pgpMimeMessage, routingFieldLine } from '../../src/crypto/seal/outer-message.js';
import { dearmorMessage, decodeRadix64, radix64Lines } from '../../src/crypto/seal/radix64.js';
import { directory, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

let sender: TestUser, recipient: TestUser, filing: TestUser, stranger: TestUser;
let sealedOnce: Buffer;

async function sealOutlook(opts: { recipientKeys?: openpgp.PublicKey[]; raw?: Buffer } = {}): Promise<Buffer> {
  const { sealed } = await seal({
    raw: opts.raw ?? outlookSample(),
    routing: routingFor(sender.email, [recipient.email], '<demande-avis-0001@cabinet-antony.medgate.test>'),
    signingKey: sender.privateKey,
    recipientKeys: opts.recipientKeys ?? [recipient.publicKey],
    filingKeys: [filing.publicKey],
    envelope: { from: sender.email, to: [recipient.email] },
  });
  return sealed;
}

beforeAll(async () => {
  [sender, recipient, filing, stranger] = await Promise.all([
    makeUser('paul.demo@cabinet-antony.medgate.test'),
    makeUser('claire.martin@cardio-sceaux.medgate.test'),
    makeUser('filing@rmp.medgate.test'),
    makeUser('mallory@elsewhere.medgate.test'),
  ]);
  sealedOnce = await sealOutlook();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OPENED';
  } catch (err) {
    if (!(err instanceof CryptoError)) throw new Error(`untyped error: ${String(err)}`);
    // Operator-safe: nothing from the message in the text.
    expect(err.message).not.toMatch(/DUPONT|Jean|1959/);
    return err.code;
  }
}

const openAs = (sealed: Buffer, key: openpgp.PrivateKey, resolveSigner: ResolveSigner = directory([{ user: sender }])) =>
  open({ sealed, decryptionKey: key, resolveSigner });

describe('tampering', () => {
  it('a flipped byte anywhere in the encrypted part is detected', async () => {
    const text = sealedOnce.toString('latin1');
    const begin = text.indexOf('-----BEGIN PGP MESSAGE-----');
    const end = text.indexOf('-----END PGP MESSAGE-----') + '-----END PGP MESSAGE-----'.length;
    const seen = new Set<string>();
    // ~80 positions spread over the whole armored block (armor lines, PKESK, encrypted data, its end).
    const step = Math.max(1, Math.floor((end - begin) / 80));
    for (let pos = begin; pos < end; pos += step) {
      if (text[pos] === '\r' || text[pos] === '\n') continue;
      for (const mutate of [(b: number) => b ^ 0x01, (b: number) => (b === 0x41 ? 0x42 : 0x41)]) {
        const copy = Buffer.from(sealedOnce);
        copy[pos] = mutate(copy[pos]!);
        if (copy.equals(sealedOnce)) continue;
        const code = await codeOf(openAs(copy, recipient.privateKey));
        seen.add(code);
        // A flip inside the recipient's own key-id bytes legitimately reads as "not for this key".
        expect([CryptoErrorCode.CIPHERTEXT_TAMPERED, CryptoErrorCode.MALFORMED_STRUCTURE, CryptoErrorCode.NOT_FOR_THIS_KEY]).toContain(code);
      }
    }
    // The armor checksum catches raw damage before decryption.
    expect(seen.has(CryptoErrorCode.MALFORMED_STRUCTURE)).toBe(true);
  });

  it('altered ciphertext re-armored with a correct checksum fails decryption (CIPHERTEXT_TAMPERED)', async () => {
    const text = sealedOnce.toString('latin1');
    const begin = text.indexOf('-----BEGIN PGP MESSAGE-----');
    const endMarker = '-----END PGP MESSAGE-----';
    const end = text.indexOf(endMarker) + endMarker.length;
    const binary = dearmorMessage(text.slice(begin, end), 'message');
    const seen: string[] = [];
    // Skip the recipient key packet (~100 bytes); flip bytes all over the encrypted data packet.
    for (let pos = 120; pos < binary.length; pos += Math.floor((binary.length - 120) / 25)) {
      const altered = Uint8Array.from(binary);
      altered[pos] = altered[pos]! ^ 0x01;
      const armored = ['-----BEGIN PGP MESSAGE-----', '', ...radix64Lines(altered), endMarker].join('\r\n');
      const copy = Buffer.from(text.slice(0, begin) + armored + text.slice(end), 'latin1');
      seen.push(await codeOf(openAs(copy, recipient.privateKey)));
    }
    expect(new Set(seen)).toEqual(new Set([CryptoErrorCode.CIPHERTEXT_TAMPERED]));
  });

  it('a flipped byte in the routing header or the MIME skeleton is detected', async () => {
    const text = sealedOnce.toString('latin1');
    const routingAt = text.indexOf('X-Medgate-Routing:') + 40;
    const controlAt = text.indexOf('\r\nVersion: 1\r\n') + 2;
    const ctAt = text.indexOf('multipart/encrypted');
    for (const pos of [routingAt, routingAt + 300, routingAt + 500, controlAt + 9, ctAt + 3]) {
      expect(text[pos]).toMatch(/[A-Za-z0-9+/]/);
      const copy = Buffer.from(sealedOnce);
      copy[pos] = copy[pos]! === 0x41 ? 0x42 : 0x41;
      const code = await codeOf(openAs(copy, recipient.privateKey));
      expect([CryptoErrorCode.CIPHERTEXT_TAMPERED, CryptoErrorCode.MALFORMED_STRUCTURE, CryptoErrorCode.NOT_FOR_THIS_KEY], `flip at ${text.slice(pos - 5, pos + 5)}`).toContain(code);
    }
  });

  it('a routing header spliced from another message is rejected', async () => {
    const other = await sealOutlook({ raw: Buffer.from(outlookSample().toString('utf8').replace('dyspnée', 'toux'), 'utf8') });
    const field = /X-Medgate-Routing:\r\n(?: [^\r\n]*\r\n)+/;
    const otherField = field.exec(other.toString('latin1'))![0];
    const spliced = Buffer.from(sealedOnce.toString('latin1').replace(field, otherField), 'latin1');
    expect(await codeOf(openAs(spliced, recipient.privateKey))).toBe(CryptoErrorCode.ROUTING_CONTENT_MISMATCH);
    // The routing header alone still verifies: the mismatch is only visible with the content.
    await expect(openRoutingHeader({ sealed: spliced, decryptionKey: filing.privateKey, resolveSigner: directory([{ user: sender }]) })).resolves.toBeDefined();
  });

  it('open checks the routing header alongside the content, but a damaged content is reported first', async () => {
    const text = sealedOnce.toString('latin1');
    const field = /X-Medgate-Routing:\r\n((?: [^\r\n]*\r\n)+)/;
    // Routing header: one byte of its encrypted data flipped, re-armored with a correct checksum.
    const routingLines = field.exec(text)![1]!.split('\r\n').map((l) => l.trim()).filter((l) => l.length > 0);
    const routing = decodeRadix64(routingLines, 'routing header');
    const badRouting = Uint8Array.from(routing);
    badRouting[badRouting.length - 30]! ^= 0x01;
    const routingDamaged = text.replace(field, `${routingFieldLine(badRouting)}\r\n`);
    // Content: the same kind of damage in its encrypted data packet.
    const begin = routingDamaged.indexOf('-----BEGIN PGP MESSAGE-----');
    const endMarker = '-----END PGP MESSAGE-----';
    const end = routingDamaged.indexOf(endMarker) + endMarker.length;
    const content = dearmorMessage(routingDamaged.slice(begin, end), 'message');
    const badContent = Uint8Array.from(content);
    badContent[badContent.length - 30]! ^= 0x01;
    const armored = ['-----BEGIN PGP MESSAGE-----', '', ...radix64Lines(badContent), endMarker].join('\r\n');
    const bothDamaged = routingDamaged.slice(0, begin) + armored + routingDamaged.slice(end);

    const messageOf = async (sealed: string) => {
      const err = await openAs(Buffer.from(sealed, 'latin1'), recipient.privateKey).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CryptoError);
      return { code: (err as CryptoError).code, message: (err as CryptoError).message };
    };
    expect(await messageOf(routingDamaged)).toEqual({ code: CryptoErrorCode.CIPHERTEXT_TAMPERED, message: expect.stringMatching(/routing header/) });
    expect(await messageOf(bothDamaged)).toEqual({ code: CryptoErrorCode.CIPHERTEXT_TAMPERED, message: expect.stringMatching(/^The message could not be decrypted/) });
  });

  it('garbage and truncated messages are malformed', async () => {
    for (const bad of [randomBytes(2000), Buffer.alloc(0), sealedOnce.subarray(0, Math.floor(sealedOnce.length / 2)), sealedOnce.subarray(0, 200)]) {
      expect(await codeOf(openAs(bad, recipient.privateKey))).toBe(CryptoErrorCode.MALFORMED_STRUCTURE);
    }
  });

  it('a message without routing header opens (routing null), but openRoutingHeader says ROUTING_MISSING', async () => {
    const stripped = Buffer.from(sealedOnce.toString('latin1').replace(/X-Medgate-Routing:\r\n(?: [^\r\n]*\r\n)+/, ''), 'latin1');
    const opened = await openAs(stripped, recipient.privateKey);
    expect(opened.routing).toBeNull();
    expect(await codeOf(openRoutingHeader({ sealed: stripped, decryptionKey: filing.privateKey, resolveSigner: directory([{ user: sender }]) }))).toBe(
      CryptoErrorCode.ROUTING_MISSING,
    );
  });
});

describe('keys and signers', () => {
  it('the wrong key gets NOT_FOR_THIS_KEY, for the content and for the routing header', async () => {
    expect(await codeOf(openAs(sealedOnce, stranger.privateKey))).toBe(CryptoErrorCode.NOT_FOR_THIS_KEY);
    expect(await codeOf(openRoutingHeader({ sealed: sealedOnce, decryptionKey: stranger.privateKey, resolveSigner: directory([{ user: sender }]) }))).toBe(
      CryptoErrorCode.NOT_FOR_THIS_KEY,
    );
  });

  it('a signer the directory maps to another key is SIGNATURE_INVALID', async () => {
    const resolveSigner = directory([{ user: sender, key: stranger.publicKey }]);
    expect(await codeOf(openAs(sealedOnce, recipient.privateKey, resolveSigner))).toBe(CryptoErrorCode.SIGNATURE_INVALID);
  });

  it('revoked or suspended signers are SIGNER_REVOKED, unknown ones SIGNER_UNKNOWN', async () => {
    expect(await codeOf(openAs(sealedOnce, recipient.privateKey, directory([{ user: sender, status: 'revoked' }])))).toBe(CryptoErrorCode.SIGNER_REVOKED);
    expect(await codeOf(openAs(sealedOnce, recipient.privateKey, directory([{ user: sender, status: 'suspended' }])))).toBe(CryptoErrorCode.SIGNER_REVOKED);
    expect(await codeOf(openAs(sealedOnce, recipient.privateKey, directory([{ user: stranger }])))).toBe(CryptoErrorCode.SIGNER_UNKNOWN);
  });

  it('a key revoked in OpenPGP itself is SIGNER_REVOKED even if the directory still says active', async () => {
    const { publicKey: revoked } = await openpgp.revokeKey({ key: sender.privateKey, format: 'object' });
    expect(await codeOf(openAs(sealedOnce, recipient.privateKey, directory([{ user: sender, key: revoked }])))).toBe(CryptoErrorCode.SIGNER_REVOKED);
  });

  it('an unsigned payload is SIGNATURE_INVALID', async () => {
    const inner = buildInnerEntity(outlookSample(), { fields: [] });
    const armored = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: inner }), encryptionKeys: recipient.publicKey });
    const head = `From: ${sender.email}\r\nMIME-Version: 1.0\r\nX-Medgate-Format: medgate/1; body=sealed\r\n`;
    const unsigned = pgpMimeMessage(head, armored.trim().replace(/\n/g, '\r\n'));
    expect(await codeOf(openAs(unsigned, recipient.privateKey))).toBe(CryptoErrorCode.SIGNATURE_INVALID);
  });
});
