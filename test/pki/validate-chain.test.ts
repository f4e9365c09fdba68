import { webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, derToPem, pemToDer, validateCertificate, type TestCa } from '../../src/pki/index.js';
import { DAY_MS, makeTempDir, opensslVerify, removeDir } from './helpers.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * The test CA only issues end-entity certificates; IGC-Santé has intermediates. This builds a
 * root -> intermediate -> leaf chain by hand (with the root's real key) to check that
 * validateCertificate follows intermediates and demands a CRL at every level.
 */
describe('validateCertificate with an intermediate CA', () => {
  let dir: string;
  let root: TestCa;
  let intermediatePem: string;
  let leafPem: string;
  let intermediateCrl: (revokedSerials: string[]) => Promise<string>;

  beforeAll(async () => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    dir = await makeTempDir('chain');
    root = await createTestCa({ dir: join(dir, 'root'), commonName: 'Root CA' });
    const rootCert = new x509.X509Certificate(pemToDer(root.certPem));
    const rootKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pemToDer(await readFile(root.paths.keyPem, 'utf8')),
      EC,
      false,
      ['sign'],
    );
    const rootSki = rootCert.getExtension(x509.SubjectKeyIdentifierExtension);
    if (!rootSki) throw new Error('root has no SKI');

    const interKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: '7a01',
      subject: 'CN=Intermediate CA',
      issuer: rootCert.subjectName,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 30 * DAY_MS),
      publicKey: interKeys.publicKey,
      signingKey: rootKey,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(interKeys.publicKey),
        new x509.AuthorityKeyIdentifierExtension(rootSki.keyId),
      ],
    });
    intermediatePem = derToPem(new Uint8Array(intermediate.rawData), 'CERTIFICATE');
    const interSki = intermediate.getExtension(x509.SubjectKeyIdentifierExtension);
    if (!interSki) throw new Error('intermediate has no SKI');

    const leafKeys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '7b02',
      subject: 'CN=leaf under intermediate',
      issuer: intermediate.subjectName,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 10 * DAY_MS),
      publicKey: leafKeys.publicKey,
      signingKey: interKeys.privateKey,
      signingAlgorithm: SIGN,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.AuthorityKeyIdentifierExtension(interSki.keyId),
      ],
    });
    leafPem = derToPem(new Uint8Array(leaf.rawData), 'CERTIFICATE');

    intermediateCrl = async (revokedSerials) => {
      const crl = await x509.X509CrlGenerator.create({
        issuer: intermediate.subjectName,
        thisUpdate: new Date(Date.now() - 60_000),
        nextUpdate: new Date(Date.now() + DAY_MS),
        signingKey: interKeys.privateKey,
        signingAlgorithm: SIGN,
        // AKI + CRL number, as every real CA's v2 CRL has (pkijs cannot parse a v2 CRL with neither
        // entries nor extensions).
        extensions: [
          new x509.AuthorityKeyIdentifierExtension(interSki.keyId),
          new x509.Extension('2.5.29.20', false, new Uint8Array([2, 1, revokedSerials.length + 1])),
        ],
        entries: revokedSerials.map((serialNumber) => ({
          serialNumber,
          revocationDate: new Date(),
          reason: x509.X509CrlReason.keyCompromise,
        })),
      });
      return derToPem(new Uint8Array(crl.rawData), 'X509 CRL');
    };
  });
  afterAll(async () => removeDir(dir));

  it('the hand-made chain is one openssl accepts', async () => {
    expect((await opensslVerify(dir, root.certPem, leafPem, ['-untrusted', join(dir, 'inter.pem')])).ok).toBe(false);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'inter.pem'), intermediatePem);
    expect((await opensslVerify(dir, root.certPem, leafPem, ['-untrusted', join(dir, 'inter.pem')])).ok).toBe(true);
  });

  it('accepts the leaf when the intermediate is supplied, separately or in the same PEM', async () => {
    const anchors = { trustAnchorsPem: [root.certPem], purpose: 'tls-client' as const };
    const separate = await validateCertificate(leafPem, { ...anchors, intermediatesPem: [intermediatePem] });
    expect(separate).toMatchObject({ ok: true, commonName: 'leaf under intermediate', serial: '7b02' });
    expect((await validateCertificate(`${leafPem}${intermediatePem}`, anchors)).ok).toBe(true);
  });

  it('without the intermediate, there is no path to the root', async () => {
    const result = await validateCertificate(leafPem, { trustAnchorsPem: [root.certPem] });
    expect(result).toMatchObject({ ok: false, code: 'untrusted' });
  });

  it('with CRLs, every level needs its issuer’s CRL, and a revocation at the intermediate counts', async () => {
    const base = { trustAnchorsPem: [root.certPem], intermediatesPem: [intermediatePem] };
    const rootCrl = await root.crlPem();
    expect(await validateCertificate(leafPem, { ...base, crlsPem: [rootCrl] })).toMatchObject({
      ok: false,
      code: 'revocation-unavailable',
    });
    expect((await validateCertificate(leafPem, { ...base, crlsPem: [rootCrl, await intermediateCrl([])] })).ok).toBe(
      true,
    );
    expect(
      await validateCertificate(leafPem, { ...base, crlsPem: [rootCrl, await intermediateCrl(['7b02'])] }),
    ).toMatchObject({ ok: false, code: 'revoked' });
  });
});
