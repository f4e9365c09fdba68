/** Which format a recipient gets (issue 15): S/MIME for X.509-only entries or those that ask for it, by address or domain. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseFormat, prefersSmime } from '../../src/message/recipient-format.js';
import { createTestCa, isSmimeEncryptionCertificate, type TestCa } from '../../src/pki/index.js';
import type { DirectoryEntry } from '../../src/store/types.js';

const CLAIRE = 'claire.martin@chu-sceaux.medgate.test';
let dir: string;
let ca: TestCa;
let userCert: string, tlsCert: string, otherAddress: string, expired: string;

function entry(o: Partial<DirectoryEntry>): DirectoryEntry {
  return {
    address: CLAIRE, mailboxType: 'PER', idType: 'RPPS', idValue: '10100000025', nationalId: '810100000025', civility: null,
    familyName: 'MARTIN', givenName: 'Claire', professionCode: '10', professionLabel: 'Médecin', specialtyCode: null, specialtyLabel: null,
    organisation: null, status: 'active', certificatePem: null, pgpPublicKey: null, source: 'peer:chu-sceaux.medgate.test', updatedAt: '2026-12-03T00:00:00Z', ...o,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'medgate-format-'));
  ca = await createTestCa({ dir: join(dir, 'ca') });
  userCert = (await ca.issue({ profile: 'user', commonName: 'Claire Martin', emails: [CLAIRE] })).certPem;
  tlsCert = (await ca.issue({ profile: 'tls-client', commonName: 'Claire Martin', emails: [CLAIRE] })).certPem;
  otherAddress = (await ca.issue({ profile: 'user', commonName: 'Someone', emails: ['someone@chu-sceaux.medgate.test'] })).certPem;
  expired = (await ca.issue({ profile: 'user', commonName: 'Old', emails: [CLAIRE], notBefore: new Date('2020-01-01'), notAfter: new Date('2021-01-01') })).certPem;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('recipient format', () => {
  it('an account certificate from the test CA is an S/MIME encryption certificate for its address only', () => {
    expect(isSmimeEncryptionCertificate(userCert, CLAIRE)).toBe(true);
    expect(isSmimeEncryptionCertificate(userCert, 'CLAIRE.MARTIN@chu-sceaux.medgate.test')).toBe(true);
    expect(isSmimeEncryptionCertificate(userCert, 'other@chu-sceaux.medgate.test')).toBe(false);
    expect(isSmimeEncryptionCertificate(tlsCert, CLAIRE)).toBe(false); // clientAuth only, signature only
    expect(isSmimeEncryptionCertificate(expired, CLAIRE)).toBe(false);
    expect(isSmimeEncryptionCertificate('not a certificate', CLAIRE)).toBe(false);
  });

  it('prefers S/MIME by exact address or by domain, never by a domain suffix', () => {
    expect(prefersSmime(CLAIRE, [CLAIRE])).toBe(true);
    expect(prefersSmime(CLAIRE, ['chu-sceaux.medgate.test'])).toBe(true);
    expect(prefersSmime(CLAIRE, ['medgate.test'])).toBe(false);
    expect(prefersSmime(CLAIRE, ['other@chu-sceaux.medgate.test'])).toBe(false);
  });

  it('X.509 only → S/MIME; both → OpenPGP unless asked; record servers OpenPGP; neither usable → none', () => {
    const none = { prefer: [] as string[], recordServer: false };
    expect(chooseFormat(entry({ certificatePem: userCert }), none)).toBe('smime');
    expect(chooseFormat(entry({ certificatePem: userCert, pgpPublicKey: 'armored' }), none)).toBe('openpgp');
    expect(chooseFormat(entry({ certificatePem: userCert, pgpPublicKey: 'armored' }), { prefer: ['chu-sceaux.medgate.test'], recordServer: false })).toBe('smime');
    expect(chooseFormat(entry({ certificatePem: userCert, pgpPublicKey: 'armored' }), { prefer: [CLAIRE], recordServer: true })).toBe('openpgp');
    expect(chooseFormat(entry({ certificatePem: userCert }), { prefer: [], recordServer: true })).toBeUndefined();
    expect(chooseFormat(entry({ certificatePem: otherAddress }), none)).toBeUndefined();
    expect(chooseFormat(entry({ certificatePem: tlsCert, pgpPublicKey: 'armored' }), { prefer: [CLAIRE], recordServer: false })).toBe('openpgp');
    expect(chooseFormat(entry({}), none)).toBeUndefined();
  });
});
