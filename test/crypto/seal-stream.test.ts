import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armorStream } from '../../src/crypto/seal/armor-stream.js';
import { armorMessage } from '../../src/crypto/seal/radix64.js';
import { sealFile } from '../../src/crypto/seal/seal-stream.js';
import { inspect, open, openRoutingHeader, seal } from '../../src/crypto/seal/index.js';
import { tempDir } from '../helpers/gateway.js';
import { directory, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

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

/** A message with a large base64 attachment, the shape of a scanned report or an imaging study. */
function largeMessage(attachmentBytes: number): Buffer {
  const head = outlookSample().toString('latin1');
  const cut = head.indexOf('\r\n\r\n');
  const headers = head.slice(0, cut).split('\r\n').filter((l) => !/^(content-type|content-transfer-encoding|mime-version):/i.test(l) && !/^\s/.test(l));
  const pdf = randomBytes(attachmentBytes).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    ...headers, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="big"', '',
    '--big', 'Content-Type: text/plain; charset=utf-8', '', 'Compte rendu joint.',
    '--big', 'Content-Type: application/pdf; name="cr.pdf"', 'Content-Transfer-Encoding: base64', '', pdf, '--big--', '',
  ].join('\r\n'), 'latin1');
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
