import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCa,
  derToPem,
  PkiError,
  PkiErrorCode,
  validateCertificate,
  type CertValidation,
  type TestCa,
} from '../../src/pki/index.js';
import { DAY_MS, makeTempDir, removeDir } from './helpers.js';

function expectFailure(result: CertValidation, code: string): string {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.code, result.reason).toBe(code);
  return result.reason;
}

describe('validateCertificate', () => {
  let dir: string;
  let ca: TestCa;
  let impostor: TestCa;
  beforeAll(async () => {
    dir = await makeTempDir('validate');
    ca = await createTestCa({ dir: join(dir, 'ca'), commonName: 'medgate test CA' });
    // Same name as the real CA, different key: only a signature check tells them apart.
    impostor = await createTestCa({ dir: join(dir, 'impostor'), commonName: 'medgate test CA' });
  });
  afterAll(async () => removeDir(dir));

  it('accepts a good certificate and reports who it is', async () => {
    const cert = await ca.issue({ profile: 'user', commonName: 'Dr Paul Durand', emails: ['paul.durand@mss.test'] });
    const crl = await ca.crlPem();
    const result = await validateCertificate(cert.certPem, {
      trustAnchorsPem: [ca.certPem],
      crlsPem: [crl],
      purpose: 'user',
    });
    expect(result).toMatchObject({
      ok: true,
      commonName: 'Dr Paul Durand',
      emails: ['paul.durand@mss.test'],
      dnsNames: [],
      serial: cert.serial,
      fingerprint256: cert.fingerprint256,
    });
    if (result.ok) expect(result.notAfter.getTime()).toBe(cert.notAfter.getTime());
  });

  it('finds the trust anchor inside a bundle of several', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'bundle' });
    const bundle = `${impostor.certPem}${ca.certPem}`;
    expect((await validateCertificate(cert.certPem, { trustAnchorsPem: [bundle] })).ok).toBe(true);
  });

  it('expired: a certificate whose notAfter has passed', async () => {
    const cert = await ca.issue({
      profile: 'tls-client',
      commonName: 'old',
      notBefore: new Date(Date.now() - 30 * DAY_MS),
      notAfter: new Date(Date.now() - DAY_MS),
    });
    expectFailure(await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem] }), 'expired');
  });

  it('expired / not-yet-valid relative to the `at` option', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'dated', validityDays: 10 });
    const opts = { trustAnchorsPem: [ca.certPem] };
    expect((await validateCertificate(cert.certPem, { ...opts, at: new Date(Date.now() + 5 * DAY_MS) })).ok).toBe(true);
    expectFailure(await validateCertificate(cert.certPem, { ...opts, at: new Date(Date.now() + 11 * DAY_MS) }), 'expired');
    expectFailure(
      await validateCertificate(cert.certPem, { ...opts, at: new Date(Date.now() - DAY_MS) }),
      'not-yet-valid',
    );
  });

  it('not-yet-valid: a certificate whose notBefore is in the future', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'later', notBefore: new Date(Date.now() + DAY_MS) });
    expectFailure(await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem] }), 'not-yet-valid');
  });

  it('revoked: listed in the CA CRL (and accepted when no CRL is supplied)', async () => {
    const cert = await ca.issue({ profile: 'gateway', commonName: 'gw', dnsNames: ['gw.test'] });
    await ca.revoke(cert.serial, 'keyCompromise');
    const crl = await ca.crlPem();
    expectFailure(
      await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: [crl], purpose: 'gateway' }),
      'revoked',
    );
    expect((await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem] })).ok).toBe(true);
  });

  it('revoked without a reason: the CRL still parses and lists it', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'no reason given' });
    await ca.revoke(cert.serial);
    const crl = await ca.crlPem();
    expectFailure(await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: [crl] }), 'revoked');
  });

  it('a stale CRL, none from the right issuer, or one that does not parse, fails as revocation-unavailable (temporary)', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'crl check' });
    const stale = await ca.crlPem({
      thisUpdate: new Date(Date.now() - 10 * DAY_MS),
      nextUpdate: new Date(Date.now() - DAY_MS),
    });
    const staleReason = expectFailure(
      await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: [stale] }),
      'revocation-unavailable',
    );
    expect(staleReason).toMatch(/CRL/);
    const foreignCrl = await impostor.crlPem();
    expectFailure(
      await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: [foreignCrl] }),
      'revocation-unavailable',
    );
    expectFailure(
      await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: ['-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n'] }),
      'revocation-unavailable',
    );
    expectFailure(await validateCertificate(cert.certPem, { trustAnchorsPem: [ca.certPem], crlsPem: ['cut short'] }), 'revocation-unavailable');
  });

  it('untrusted: signed by another CA, even one with the same name', async () => {
    const foreign = await impostor.issue({ profile: 'tls-client', commonName: 'foreign' });
    expectFailure(await validateCertificate(foreign.certPem, { trustAnchorsPem: [ca.certPem] }), 'untrusted');
    // The impostor's root itself is self-signed, not trusted.
    expectFailure(await validateCertificate(impostor.certPem, { trustAnchorsPem: [ca.certPem] }), 'untrusted');
    expectFailure(await validateCertificate(foreign.certPem, { trustAnchorsPem: [] }), 'untrusted');
  });

  it('bad-key-usage: a certificate used for a purpose its profile does not allow', async () => {
    const client = await ca.issue({ profile: 'tls-client', commonName: 'client only' });
    const server = await ca.issue({ profile: 'tls-server', commonName: 'srv', dnsNames: ['srv.test'] });
    const user = await ca.issue({ profile: 'user', commonName: 'user', emails: ['u@mss.test'] });
    const gateway = await ca.issue({ profile: 'gateway', commonName: 'gw', dnsNames: ['gw.test'] });
    const anchors = { trustAnchorsPem: [ca.certPem] };
    const reason = expectFailure(
      await validateCertificate(client.certPem, { ...anchors, purpose: 'tls-server' }),
      'bad-key-usage',
    );
    expect(reason).toContain('1.3.6.1.5.5.7.3.1');
    expectFailure(await validateCertificate(server.certPem, { ...anchors, purpose: 'gateway' }), 'bad-key-usage');
    expectFailure(await validateCertificate(user.certPem, { ...anchors, purpose: 'tls-server' }), 'bad-key-usage');
    expectFailure(await validateCertificate(ca.certPem, { ...anchors, purpose: 'tls-client' }), 'bad-key-usage');
    expect((await validateCertificate(gateway.certPem, { ...anchors, purpose: 'tls-server' })).ok).toBe(true);
    expect((await validateCertificate(gateway.certPem, { ...anchors, purpose: 'tls-client' })).ok).toBe(true);
    expect((await validateCertificate(user.certPem, { ...anchors, purpose: 'tls-client' })).ok).toBe(true);
  });

  it('malformed: garbage never throws', async () => {
    const anchors = { trustAnchorsPem: [ca.certPem] };
    const garbage = [
      '',
      'hello',
      derToPem(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'CERTIFICATE'),
      '-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n',
      (await ca.issue({ profile: 'tls-client', commonName: 'truncated' })).certPem.slice(0, 200) +
        '\n-----END CERTIFICATE-----\n',
    ];
    for (const input of garbage) {
      expectFailure(await validateCertificate(input, anchors), 'malformed');
    }
  });

  it('throws a typed error when the operator’s own trust anchors are unreadable', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'anchor check' });
    const err = await validateCertificate(cert.certPem, { trustAnchorsPem: ['not a pem'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PkiError);
    expect((err as PkiError).code).toBe(PkiErrorCode.BadEncoding);
  });
});
