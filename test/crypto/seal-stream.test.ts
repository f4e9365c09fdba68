import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armorStream } from '../../src/crypto/seal/armor-stream.js';
import { armorMessage, dearmorMessage } from '../../src/crypto/seal/radix64.js';
import { openStream, STREAM_HEAD_BYTES } from '../../src/crypto/seal/open-stream.js';
import { Readable } from 'node:stream';
import { sealFile } from '../../src/crypto/seal/seal-stream.js';
import { inspect, open, openRoutingHeader, seal } from '../../src/crypto/seal/index.js';
import { tempDir } from '../helpers/gateway.js';
import { directory, largeMessage, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let sender: TestUser, alice: TestUser, filing: TestUser;
let dir: string;
beforeAll(async () => {
  [sender, alice, filing] = await Promise.all([
    makeUser('paul.demo@cabinet-antony.medgate.test'),
    makeUser('claire.martin@cardio-sceaux.medgate.test'),
    makeUser('filing@rmp.medgate.test'),
  ]);
  dir = tempDir('medgate-sealstream-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function sealToFile(raw: Buffer) {
  const rawFile = path.join(dir, `in-${n}.eml`);
  const outFile = path.join(dir, `out-${n++}.eml`);
  fs.writeFileSync(rawFile, raw);
  const res = await sealFile({
    rawFile, outFile,
    routing: routingFor(sender.email, [alice.email], '<big@cabinet-antony.medgate.test>'),
    signingKey: sender.privateKey,
    recipientKeys: [alice.publicKey, sender.publicKey],
    filingKeys: [filing.publicKey],
    envelope: { from: sender.email, to: [alice.email] },
  });
  return { res, sealed: fs.readFileSync(outFile), outFile };
}

describe('sealFile: the streamed seal', () => {
  it('armors a stream exactly as armorMessage armors the whole buffer, whatever the chunking', async () => {
    for (const size of [0, 1, 56, 57, 58, 114, 1000, 70_001]) {
      const data = randomBytes(size);
      for (const chunkSize of [1, 57, 4096]) {
        async function* chunks() { for (let i = 0; i < data.length; i += chunkSize) yield data.subarray(i, i + chunkSize); }
        const parts: Buffer[] = [];
        for await (const p of armorStream(chunks())) parts.push(p);
        expect(Buffer.concat(parts).toString('latin1')).toBe(armorMessage(data));
      }
    }
  });

  it('opens to the original bytes, with the routing header bound to it, like seal()', async () => {
    const raw = largeMessage(3 * 1024 * 1024);
    const { res, sealed } = await sealToFile(raw);
    expect(res.size).toBe(sealed.length);
    expect(res.sha256).toBe(sha256(sealed));
    expect(res.alreadyEncrypted).toBe(false);
    const resolveSigner = directory([{ user: sender }]);
    for (const user of [alice, sender]) {
      const opened = await open({ sealed, decryptionKey: user.privateKey, resolveSigner });
      expect(sha256(opened.raw)).toBe(sha256(raw));
      expect(opened.verification.fingerprint).toBe(sender.publicKey.getFingerprint());
    }
    const routing = await openRoutingHeader({ sealed, decryptionKey: filing.privateKey, resolveSigner });
    expect(routing.routing.messageId).toBe('<big@cabinet-antony.medgate.test>');
    // Same visible structure as the in-memory seal of the same message.
    const inMemory = await seal({
      raw, routing: routingFor(sender.email, [alice.email], '<big@cabinet-antony.medgate.test>'), signingKey: sender.privateKey,
      recipientKeys: [alice.publicKey, sender.publicKey], filingKeys: [filing.publicKey], envelope: { from: sender.email, to: [alice.email] },
    });
    const strip = (i: ReturnType<typeof inspect>) => ({ ...i, outerHeaders: i.outerHeaders.filter(([k]) => !/^(message-id|content-type)$/i.test(k)).map(([k]) => k) });
    expect(strip(inspect(sealed))).toMatchObject(strip(inspect(inMemory.sealed)));
    // Nothing of the original subject or patient in clear.
    expect(sealed.includes(Buffer.from('DUPONT'))).toBe(false);
  });

  it('a small message, and one without a body, seal and open byte-exact', async () => {
    const resolveSigner = directory([{ user: sender }]);
    for (const raw of [outlookSample(), Buffer.from('From: paul.demo@cabinet-antony.medgate.test\r\nSubject: header only\r\n')]) {
      const { sealed } = await sealToFile(raw);
      const opened = await open({ sealed, decryptionKey: alice.privateKey, resolveSigner });
      expect(opened.raw.equals(raw)).toBe(true);
    }
  });

  it('a message already encrypted by the client keeps its body byte for byte', async () => {
    const body = '--x\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--x\r\nContent-Type: application/octet-stream\r\n\r\n' +
      armorMessage(randomBytes(200_000)) + '\r\n--x--\r\n';
    const raw = Buffer.from(`From: ${sender.email}\r\nTo: ${alice.email}\r\nSubject: x\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="x"\r\n\r\n${body}`);
    const { res, sealed } = await sealToFile(raw);
    expect(res.alreadyEncrypted).toBe(true);
    expect(sealed.subarray(sealed.length - body.length).toString('latin1')).toBe(body);
    const routing = await openRoutingHeader({ sealed, decryptionKey: filing.privateKey, resolveSigner: directory([{ user: sender }]) });
    expect(routing.routing.contentDigest).toBe(sha256(Buffer.from(body)));
  });

  it('refuses a header block that does not end within 1 MiB, and leaves no output file', async () => {
    const raw = Buffer.concat([Buffer.from('From: a@b.test\r\n'), Buffer.from(`X-Long: ${'a'.repeat(1_200_000)}\r\n\r\nbody`)]);
    const rawFile = path.join(dir, 'longhead.eml');
    const outFile = path.join(dir, 'longhead.out');
    fs.writeFileSync(rawFile, raw);
    await expect(sealFile({
      rawFile, outFile, routing: routingFor(sender.email, [alice.email], '<x@y>'), signingKey: sender.privateKey,
      recipientKeys: [alice.publicKey], filingKeys: [], envelope: { from: sender.email, to: [alice.email] },
    })).rejects.toMatchObject({ code: 'MALFORMED_STRUCTURE' });
    expect(fs.existsSync(outFile)).toBe(false);
  });
});

/** openStream over a sealed message in memory, read in pieces of `chunk` bytes: what it gives before failing or ending. */
async function streamOpen(sealed: Buffer, resolveSigner = directory([{ user: sender }]), chunk = 65_536) {
  const opening = await openStream({
    head: sealed.subarray(0, STREAM_HEAD_BYTES),
    sealed: () => Readable.from((function* () { for (let i = 0; i < sealed.length; i += chunk) yield sealed.subarray(i, i + chunk); })()),
    decryptionKey: alice.privateKey, resolveSigner,
  });
  const pieces: Buffer[] = [];
  let error: unknown;
  let verifiedAtFirstPiece: unknown = 'none';
  try {
    for await (const p of opening.content) {
      if (pieces.length === 0) verifiedAtFirstPiece = opening.verification;
      pieces.push(p);
    }
  } catch (err) {
    error = err;
  }
  return { opening, given: Buffer.concat(pieces), pieces: pieces.length, error, verifiedAtFirstPiece };
}

/** The sealed message with its OpenPGP payload changed by `edit` and re-armored (valid CRC-24). */
function rearmored(sealed: Buffer, edit: (binary: Buffer) => void): Buffer {
  const text = sealed.toString('latin1');
  const begin = text.indexOf('-----BEGIN PGP MESSAGE-----');
  const end = text.indexOf('-----END PGP MESSAGE-----') + '-----END PGP MESSAGE-----'.length;
  const binary = Buffer.from(dearmorMessage(text.slice(begin, end), 'message'));
  edit(binary);
  return Buffer.from(text.slice(0, begin) + armorMessage(binary) + text.slice(end), 'latin1');
}

describe('openStream: opening a large message as a stream (IMAP FETCH)', () => {
  it('gives the original bytes piece by piece, the first before the message is verified, the verdict at the end', async () => {
    const raw = largeMessage(3 * 1024 * 1024);
    const { sealed } = await sealToFile(raw);
    for (const chunk of [65_536, 1000]) {
      const r = await streamOpen(sealed, undefined, chunk);
      expect(r.error).toBeUndefined();
      expect(sha256(r.given)).toBe(sha256(raw));
      expect(r.pieces).toBeGreaterThan(10);
      expect(r.verifiedAtFirstPiece).toBeUndefined();
      expect(r.opening.verification).toMatchObject({ signer: sender.email, fingerprint: sender.publicKey.getFingerprint() });
      expect(r.opening.routing.messageId).toBe('<big@cabinet-antony.medgate.test>');
    }
  });

  it('an altered ciphertext (valid armor checksum): pieces came, the last never, CIPHERTEXT_TAMPERED', async () => {
    const raw = largeMessage(2 * 1024 * 1024);
    const { sealed } = await sealToFile(raw);
    const bad = rearmored(sealed, (b) => { b[b.length - 40] ^= 0x01; });
    const r = await streamOpen(bad);
    expect(r.error).toMatchObject({ code: 'CIPHERTEXT_TAMPERED' });
    expect(r.given.length).toBeGreaterThan(raw.length / 2);
    expect(r.given.length).toBeLessThan(raw.length);
    expect(r.opening.verification).toBeUndefined();
    // A byte in the middle of the literal data: same, the end withheld.
    const middle = await streamOpen(rearmored(sealed, (b) => { b[Math.floor(b.length / 2)] ^= 0x01; }));
    expect(middle.error).toMatchObject({ code: 'CIPHERTEXT_TAMPERED' });
    expect(middle.given.length).toBeLessThan(raw.length);
  });

  it('a damaged armor (checksum) and a routing header spliced from another message are caught before the last piece', async () => {
    const raw = largeMessage(2 * 1024 * 1024);
    const { sealed } = await sealToFile(raw);
    // One base64 character changed: only the CRC-24 tells before decryption ends.
    const text = sealed.toString('latin1');
    const at = text.indexOf('-----END PGP MESSAGE-----') - 200;
    const flipped = Buffer.from(text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1), 'latin1');
    const crc = await streamOpen(flipped);
    expect(crc.error).toMatchObject({ code: expect.stringMatching(/^(MALFORMED_STRUCTURE|CIPHERTEXT_TAMPERED)$/) });
    expect(crc.given.length).toBeLessThan(raw.length);

    const other = (await sealToFile(largeMessage(2 * 1024 * 1024))).sealed;
    const field = (m: Buffer) => /X-Medgate-Routing:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n/.exec(m.toString('latin1'))![0];
    const spliced = Buffer.from(text.replace(field(sealed), field(other)), 'latin1');
    expect(spliced.equals(sealed)).toBe(false);
    const r = await streamOpen(spliced);
    expect(r.error).toMatchObject({ code: 'ROUTING_CONTENT_MISMATCH' });
    expect(r.given.length).toBeLessThan(raw.length);
  });

  it('a signer the directory does not know: refused before any content byte', async () => {
    const { sealed } = await sealToFile(largeMessage(1024 * 1024));
    await expect(openStream({ head: sealed.subarray(0, STREAM_HEAD_BYTES), sealed: () => Readable.from([sealed]), decryptionKey: alice.privateKey, resolveSigner: directory([]) }))
      .rejects.toMatchObject({ code: 'SIGNER_UNKNOWN' });
  });
});
