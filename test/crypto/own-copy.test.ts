/**
 * An own copy (IMAP APPEND of a person: Sent, Drafts) is sealed with ONE OpenPGP operation: its
 * sealed body carries no routing header (docs/secure-message-format.md §5.1). Checked here:
 * - the stored form has no X-Medgate-Routing field and exactly one OpenPGP message (one PKESK + SEIPD
 *   in the armored part), and open() gives the bytes back, signed by the owner, routing null;
 * - an own copy of the old form (with its routing header, as stored before) still opens;
 * - client-encrypted input keeps its routing header even when asked to leave it out (there it is the
 *   only part medgate signs), and opens;
 * - the copy is not a delivered message in disguise: openRoutingHeader refuses it (ROUTING_MISSING);
 * - an APPEND's IMAP metadata parsed in a sealing worker (analyseTask, when the main thread is busy)
 *   is that of the bytes as IMAP serves them (CRLF), the same the main thread computes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CryptoErrorCode, open, openRoutingHeader } from '../../src/crypto/seal/index.js';
import { analyseMessage } from '../../src/imap/mime/structure.js';
import { sealOwnCopy } from '../../src/message/seal-own-copy.js';
import { analyseTask } from '../../src/message/worker/seal-worker.js';
import { toCrlf } from '../../src/util/crlf.js';
import { makeUser, outlookSample, type TestUser } from './fixtures.js';

let paul: TestUser;
beforeAll(async () => {
  paul = await makeUser('paul.demo@cabinet-antony.medgate.test');
});

const ownKeyOnly = () => {
  const ids = new Set(paul.publicKey.getKeyIDs().map((k) => k.toHex()));
  return async (ref: { keyIds: string[] }) => (ref.keyIds.some((id) => ids.has(id)) ? { publicKey: paul.publicKey, status: 'active' as const } : undefined);
};

function header(sealed: Buffer): string {
  return sealed.subarray(0, sealed.indexOf('\r\n\r\n')).toString('latin1');
}

describe('own copy sealed without a routing header', () => {
  it('has no X-Medgate-Routing field, and opens to the same bytes signed by its owner', async () => {
    const raw = outlookSample();
    const sealed = await sealOwnCopy(raw, paul.privateKey, paul.email, new Date(), { withoutRouting: true });
    expect(header(sealed)).toMatch(/^X-Medgate-Format: medgate\/1; body=sealed$/m);
    expect(header(sealed)).not.toMatch(/X-Medgate-Routing/i);
    const opened = await open({ sealed, decryptionKey: paul.privateKey, resolveSigner: ownKeyOnly() });
    expect(opened.raw.equals(raw)).toBe(true);
    expect(opened.routing).toBeNull();
    expect(opened.verification.fingerprint).toBe(paul.publicKey.getFingerprint());
    await expect(openRoutingHeader({ sealed, decryptionKey: paul.privateKey, resolveSigner: ownKeyOnly() }))
      .rejects.toMatchObject({ code: CryptoErrorCode.ROUTING_MISSING });
  });

  it('an own copy of the previous form (with its routing header) still opens', async () => {
    const raw = outlookSample();
    const sealed = await sealOwnCopy(raw, paul.privateKey, paul.email, new Date());
    expect(header(sealed)).toMatch(/^X-Medgate-Routing:/m);
    const opened = await open({ sealed, decryptionKey: paul.privateKey, resolveSigner: ownKeyOnly() });
    expect(opened.raw.equals(raw)).toBe(true);
    expect(opened.routing?.sender.address).toBe(paul.email);
  });

  it('client-encrypted input keeps its routing header, the only part medgate signs', async () => {
    const raw = Buffer.from(
      `From: ${paul.email}\r\nTo: claire.martin@cardio-sceaux.medgate.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n` +
      'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b"\r\n\r\n' +
      '--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n' +
      '-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA0x=\r\n-----END PGP MESSAGE-----\r\n--b--\r\n',
    );
    const sealed = await sealOwnCopy(raw, paul.privateKey, paul.email, new Date(), { withoutRouting: true });
    expect(header(sealed)).toMatch(/^X-Medgate-Format: medgate\/1; body=client-encrypted$/m);
    expect(header(sealed)).toMatch(/^X-Medgate-Routing:/m);
    const opened = await open({ sealed, decryptionKey: paul.privateKey, resolveSigner: ownKeyOnly() });
    expect(opened.routing?.sender.address).toBe(paul.email);
  });
});

describe('an APPEND\'s IMAP metadata computed in a sealing worker (analyseTask) is the main thread\'s', () => {
  it('gives ENVELOPE and BODYSTRUCTURE of the CRLF bytes; the copy with and without routing header opens', async () => {
    const raw = Buffer.from(outlookSample().toString('latin1').replace(/\r\n/g, '\n'), 'latin1'); // LF, as some clients send
    const imap = await analyseTask({ raw });
    expect(imap).toEqual(await analyseMessage(toCrlf(raw)));
    expect(imap?.envelope.subject).toBeTruthy();
    const copy = await sealOwnCopy(raw, paul.privateKey, paul.email, new Date(), { withoutRouting: true });
    expect(header(copy)).not.toMatch(/X-Medgate-Routing/i);
    const opened = await open({ sealed: copy, decryptionKey: paul.privateKey, resolveSigner: ownKeyOnly() });
    expect(opened.raw.equals(raw)).toBe(true);
    const plain = await sealOwnCopy(raw, paul.privateKey, paul.email, new Date(), { withoutRouting: false });
    expect(header(plain)).toMatch(/^X-Medgate-Routing:/m);
  });
});
