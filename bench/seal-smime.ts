/**
 * The S/MIME half of bench/seal.bench.ts (issue 15): sealSmime()/openSmime() against the raw
 * pkijs/WebCrypto operations they need, run the same way in the same process — pkijs SignedData
 * sign of the very RFC 9788 payload sealSmime() signs, pkijs EnvelopedData encrypt of that signed
 * entity to the same certificates, and the routing header's OpenPGP sign+encrypt, the two chains at
 * once as sealSmime() runs them; for opening, pkijs EnvelopedData decrypt + SignedData verify, and
 * the routing header's decrypt+verify. What is left above 1.00× is medgate's own work (inner entity,
 * digest, MIME, base64 lines; at opening the chain + CRL validation and the From/directory checks).
 */
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as openpgp from 'openpgp';
import * as pkijs from 'pkijs';
import { splitHeaderBlock } from '../src/crypto/seal/header-block.js';
import { buildInnerEntity } from '../src/crypto/seal/inner-entity.js';
import { sealedRoutingHeader, type RoutingInput } from '../src/crypto/seal/routing-header.js';
import { planOuterLayer } from '../src/crypto/seal/seal-parts.js';
import { openSmime, sealSmime } from '../src/crypto/smime/index.js';
import { createTestCa, pemToDer } from '../src/pki/index.js';
import { ensureCryptoProviders } from '../src/pki/provider.js';

export interface Rate { rate: number; cpuMs: number }
type Rates = (fns: Array<() => Promise<unknown>>) => Promise<Rate[]>;

function ab(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

export interface SmimeBench {
  run(raw: Buffer, routing: RoutingInput, rates: Rates): Promise<{ seal: Rate; rawSeal: Rate; open: Rate; rawOpen: Rate }>;
  close(): void;
}

/** Test CA, ECDSA P-256 certificates for the sender and the recipient (key agreement), and the OpenPGP keys of the routing header. */
export async function setupSmimeBench(from: string, to: string, pgp: { sender: openpgp.PrivateKey; routingKeys: openpgp.PublicKey[]; recipient: openpgp.PrivateKey }): Promise<SmimeBench> {
  ensureCryptoProviders();
  const dir = mkdtempSync(join(tmpdir(), 'medgate-bench-smime-'));
  const ca = await createTestCa({ dir: join(dir, 'ca') });
  const [sender, recipient] = await Promise.all([
    ca.issue({ profile: 'user', commonName: 'Paul Demo', emails: [from] }),
    ca.issue({ profile: 'user', commonName: 'Claire Martin', emails: [to] }),
  ]);
  const crl = await ca.crlPem();
  const senderCert = pkijs.Certificate.fromBER(ab(pemToDer(sender.certPem, 'CERTIFICATE')));
  const recipientCert = pkijs.Certificate.fromBER(ab(pemToDer(recipient.certPem, 'CERTIFICATE')));
  const pkcs8 = (pem: string) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  const signKey = await webcrypto.subtle.importKey('pkcs8', pkcs8(sender.keyPem), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const recipientKey = await webcrypto.subtle.importKey('pkcs8', pkcs8(recipient.keyPem), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);

  const rawSign = async (content: Uint8Array): Promise<ArrayBuffer> => {
    const digest = createHash('sha256').update(content).digest();
    const signed = new pkijs.SignedData({
      version: 1,
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1', eContent: new asn1js.OctetString({ valueHex: ab(content) }) }),
      signerInfos: [new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({ issuer: senderCert.issuer, serialNumber: senderCert.serialNumber }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: [
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' })] }),
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.5', values: [new asn1js.UTCTime({ valueDate: new Date() })] }),
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: ab(digest) })] }),
        ] }),
      })],
      certificates: [senderCert],
    });
    await signed.sign(signKey, 0, 'SHA-256', ab(content));
    return new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: signed.toSchema() }).toSchema().toBER(false);
  };
  const rawEnvelop = async (content: ArrayBuffer): Promise<ArrayBuffer> => {
    const env = new pkijs.EnvelopedData();
    env.addRecipientByCertificate(recipientCert, { kdfAlgorithm: 'SHA-256', kekEncryptionLength: 256 });
    env.addRecipientByCertificate(senderCert, { kdfAlgorithm: 'SHA-256', kekEncryptionLength: 256 });
    await env.encrypt({ name: 'AES-CBC', length: 256 } as Parameters<pkijs.EnvelopedData['encrypt']>[0], content);
    return new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.3', content: env.toSchema() }).toSchema().toBER(false);
  };
  const rawRouting = (json: Uint8Array) => async () =>
    openpgp.encrypt({ message: await openpgp.createMessage({ binary: json, format: 'binary' }), encryptionKeys: pgp.routingKeys, signingKeys: pgp.sender, format: 'binary' });

  return {
    async run(raw, routing, rates) {
      const sealOnce = () => sealSmime({
        raw, routing, signer: { certPem: sender.certPem, keyPem: sender.keyPem }, routingSigningKey: pgp.sender,
        recipientCertsPem: [recipient.certPem, sender.certPem], routingKeys: pgp.routingKeys, envelope: { from, to: [to] },
      });
      // The very bytes sealSmime() signs, and its routing JSON.
      const { transport } = planOuterLayer(splitHeaderBlock(raw).header, from, undefined);
      const payload = buildInnerEntity(raw, { fields: transport });
      const json = Buffer.from(JSON.stringify(sealedRoutingHeader(routing, createHash('sha256').update(payload).digest('hex'), new Date().toISOString())), 'utf8');
      const routingOp = rawRouting(json);
      const rawSealOnce = () => Promise.all([rawSign(payload).then(rawEnvelop), routingOp()]);

      const { sealed } = await sealOnce();
      const trust = { anchorsPem: [ca.certPem], crlsPem: [crl] };
      const openOnce = () => openSmime({
        sealed, recipient: { certPem: recipient.certPem, keyPem: recipient.keyPem }, trust,
        resolveSigner: async () => ({ status: 'active' }), routing: { decryptionKey: pgp.recipient, resolveSigner: async () => ({ publicKey: pgp.sender.toPublic(), status: 'active' }) },
      });
      const [envelopedDer, routingCt] = await Promise.all([rawSign(payload).then(rawEnvelop), routingOp()]);
      const rawOpenOnce = () => Promise.all([
        (async () => {
          const env = new pkijs.EnvelopedData({ schema: pkijs.ContentInfo.fromBER(envelopedDer).content });
          const inner = await env.decrypt(0, { recipientCertificate: recipientCert, recipientPrivateKey: recipientKey });
          const signed = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(inner).content });
          if (!(await signed.verify({ signer: 0, checkChain: false }))) throw new Error('raw verify failed');
        })(),
        openpgp.readMessage({ binaryMessage: routingCt as Uint8Array }).then((message) =>
          openpgp.decrypt({ message, decryptionKeys: pgp.recipient, verificationKeys: pgp.sender.toPublic(), expectSigned: true, format: 'binary' })),
      ]);
      const [s, rs] = await rates([sealOnce, rawSealOnce]);
      const [o, ro] = await rates([openOnce, rawOpenOnce]);
      return { seal: s!, rawSeal: rs!, open: o!, rawOpen: ro! };
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
