import { generateKeyPairSync, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DirectoryErrorCode } from '../../src/directory/errors.js';
import { buildDirectoryExport, parseDirectoryExport } from '../../src/directory/peer-export.js';
import type { DirectoryEntry } from '../../src/store/types.js';

const DOMAIN = 'cabinet.medgate.test';
const GENERATED_AT = new Date('2025-03-04T05:06:07.000Z');

let filingKey: { publicKey: string; privateKey: string };
let certificatePem: string;
let pkcs8Pem: string;

beforeAll(async () => {
  const pgp = await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: `filing@${DOMAIN}` }], format: 'armored' });
  filingKey = { publicKey: pgp.publicKey, privateKey: pgp.privateKey };
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${DOMAIN}`,
    notBefore: new Date('2025-01-01'),
    notAfter: new Date('2026-01-01'),
    keys: keys as CryptoKeyPair,
    signingAlgorithm: alg,
  });
  certificatePem = cert.toString('pem');
  pkcs8Pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
});

function entry(address: string, overrides: Partial<DirectoryEntry> = {}): DirectoryEntry {
  return {
    address,
    mailboxType: 'PER',
    idType: 'RPPS',
    idValue: '10100000017',
    nationalId: '810100000017',
    civility: 'DR',
    familyName: 'TEST',
    givenName: 'Jean',
    professionCode: '10',
    professionLabel: 'Médecin',
    specialtyCode: 'SM54',
    specialtyLabel: 'Médecine générale',
    organisation: 'Cabinet de test',
    status: 'active',
    certificatePem: null,
    pgpPublicKey: null,
    source: 'local',
    updatedAt: '2025-02-01T00:00:00.000Z',
    ...overrides,
  };
}

function build(entries: DirectoryEntry[] = [entry(`jean@${DOMAIN}`)]): string {
  return buildDirectoryExport({ gatewayDomain: DOMAIN, entries, filingKeyArmored: filingKey.publicKey, gatewayCertificatePem: certificatePem, generatedAt: GENERATED_AT });
}

function mutate(json: string, change: (doc: Record<string, any>) => void): string {
  const doc = JSON.parse(json);
  change(doc);
  return JSON.stringify(doc);
}

describe('buildDirectoryExport', () => {
  it('writes a versioned document with public data only, sorted by address', () => {
    const json = build([entry(`zoe@${DOMAIN}`, { pgpPublicKey: filingKey.publicKey, certificatePem }), entry(`Jean@${DOMAIN.toUpperCase()}`)]);
    const doc = JSON.parse(json);
    expect(doc).toMatchObject({
      format: 'medgate-directory-export',
      version: 1,
      generatedAt: GENERATED_AT.toISOString(),
      gateway: { domain: DOMAIN, filingKey: filingKey.publicKey, certificate: certificatePem },
    });
    expect(doc.entries.map((e: DirectoryEntry) => e.address)).toEqual([`jean@${DOMAIN}`, `zoe@${DOMAIN}`]);
    expect(doc.entries[0]).not.toHaveProperty('source');
    expect(json).not.toMatch(/PRIVATE KEY/);
  });

  it('is deterministic for the same input', () => {
    expect(build()).toBe(build());
  });

  it('writes null keys when none are given', () => {
    const doc = JSON.parse(buildDirectoryExport({ gatewayDomain: DOMAIN, entries: [] }));
    expect(doc.gateway).toEqual({ domain: DOMAIN, filingKey: null, certificate: null, recordServers: [] });
    expect(doc.entries).toEqual([]);
  });

  it('refuses any private key block, whatever field carries it', () => {
    const privateKeyCode = expect.objectContaining({ code: DirectoryErrorCode.ExportPrivateKey });
    expect(() => buildDirectoryExport({ gatewayDomain: DOMAIN, entries: [], filingKeyArmored: filingKey.privateKey })).toThrow(privateKeyCode);
    expect(() => buildDirectoryExport({ gatewayDomain: DOMAIN, entries: [], gatewayCertificatePem: `${certificatePem}\n${pkcs8Pem}` })).toThrow(privateKeyCode);
    expect(() => build([entry(`jean@${DOMAIN}`, { pgpPublicKey: filingKey.privateKey })])).toThrow(privateKeyCode);
    expect(() => build([entry(`jean@${DOMAIN}`, { certificatePem: pkcs8Pem })])).toThrow(privateKeyCode);
    expect(() => build([entry(`jean@${DOMAIN}`, { organisation: `-----BEGIN RSA ${'PRIVATE'} KEY-----` })])).toThrow(privateKeyCode);
  });

  it('refuses invalid input', () => {
    const invalid = expect.objectContaining({ code: DirectoryErrorCode.ExportInvalidInput });
    expect(() => buildDirectoryExport({ gatewayDomain: 'not a domain', entries: [] })).toThrow(invalid);
    expect(() => build([entry('jean@other.medgate.test')])).toThrow(expect.objectContaining({ code: DirectoryErrorCode.ExportInvalidInput, details: { address: 'jean@other.medgate.test' } }));
    expect(() => buildDirectoryExport({ gatewayDomain: DOMAIN, entries: [], filingKeyArmored: certificatePem })).toThrow(invalid);
    expect(() => buildDirectoryExport({ gatewayDomain: DOMAIN, entries: [], gatewayCertificatePem: filingKey.publicKey })).toThrow(invalid);
    expect(() => build([entry(`jean@${DOMAIN}`, { updatedAt: 'yesterday' })])).toThrow(/field "updatedAt"/);
  });
});

describe('parseDirectoryExport', () => {
  it('round-trips and forces source = peer:<domain>', () => {
    const original = [entry(`jean@${DOMAIN}`, { pgpPublicKey: filingKey.publicKey, certificatePem }), entry(`org@${DOMAIN}`, { mailboxType: 'ORG', idType: 'FINESS', idValue: '920000000', nationalId: null, status: 'suspended' })];
    const parsed = parseDirectoryExport(build(original), { expectedDomain: DOMAIN.toUpperCase() });
    expect(parsed.gateway).toEqual({ domain: DOMAIN, filingKey: filingKey.publicKey, certificate: certificatePem, generatedAt: GENERATED_AT.toISOString(), recordServers: [] });
    expect(parsed.rejected).toEqual([]);
    expect(parsed.entries).toEqual(original.map((e) => ({ ...e, source: `peer:${DOMAIN}` })));
  });

  it('overrides a source claimed by the document', () => {
    const json = mutate(build(), (doc) => {
      doc.entries[0].source = 'ans';
    });
    expect(parseDirectoryExport(json, {}).entries[0]!.source).toBe(`peer:${DOMAIN}`);
  });

  it('rejects entries outside the exporting domain, including subdomains', () => {
    const json = mutate(build(), (doc) => {
      doc.entries.push({ ...doc.entries[0], address: 'victim@hopital.medgate.test' }, { ...doc.entries[0], address: `x@sub.${DOMAIN}` });
    });
    const parsed = parseDirectoryExport(json, {});
    expect(parsed.entries.map((e) => e.address)).toEqual([`jean@${DOMAIN}`]);
    expect(parsed.rejected).toEqual([
      { index: 1, address: 'victim@hopital.medgate.test', reason: `victim@hopital.medgate.test is not in the exporting gateway's domain ${DOMAIN}; a peer may only speak for its own domain` },
      { index: 2, address: `x@sub.${DOMAIN}`, reason: expect.stringMatching(/not in the exporting gateway's domain/) },
    ]);
  });

  it('rejects invalid entries naming the field, and duplicates', () => {
    const json = mutate(build(), (doc) => {
      const base = doc.entries[0];
      doc.entries.push(
        { ...base, address: `b@${DOMAIN}`, mailboxType: 'XYZ' },
        { ...base, address: `c@${DOMAIN}`, pgpPublicKey: 'garbage' },
        { ...base, address: `d@${DOMAIN}`, familyName: 42 },
        { ...base, address: 'no-at-sign' },
        'not an object',
        { ...base, address: base.address.toUpperCase() },
      );
    });
    const parsed = parseDirectoryExport(json, {});
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.rejected.map((r) => [r.index, r.address, r.reason.match(/^field "([^"]+)"/)?.[1] ?? r.reason])).toEqual([
      [1, `b@${DOMAIN}`, 'mailboxType'],
      [2, `c@${DOMAIN}`, 'pgpPublicKey'],
      [3, `d@${DOMAIN}`, 'familyName'],
      [4, 'no-at-sign', 'address'],
      [5, undefined, '(document)'],
      [6, `jean@${DOMAIN}`, `jean@${DOMAIN} is a duplicate of entry 0; the first occurrence is kept`],
    ]);
  });

  it('refuses a document from another domain than expected', () => {
    expect(() => parseDirectoryExport(build(), { expectedDomain: 'other.medgate.test' })).toThrow(
      expect.objectContaining({ code: DirectoryErrorCode.ExportDomainMismatch }),
    );
  });

  it('refuses a document leaking a private key', () => {
    const json = mutate(build(), (doc) => {
      doc.gateway.filingKey = filingKey.privateKey;
    });
    expect(() => parseDirectoryExport(json, {})).toThrow(expect.objectContaining({ code: DirectoryErrorCode.ExportPrivateKey }));
  });

  it('refuses malformed documents with an error naming the field', () => {
    const cases: Array<[string, string]> = [
      ['{', '(document)'],
      ['[]', '(document)'],
      [mutate(build(), (d) => { d.format = 'other'; }), 'format'],
      [mutate(build(), (d) => { delete d.gateway; }), 'gateway'],
      [mutate(build(), (d) => { d.gateway.domain = 'bad domain'; }), 'gateway.domain'],
      [mutate(build(), (d) => { d.gateway.certificate = 'nope'; }), 'gateway.certificate'],
      [mutate(build(), (d) => { d.entries = {}; }), 'entries'],
      [mutate(build(), (d) => { d.generatedAt = 'later'; }), 'generatedAt'],
    ];
    for (const [json, field] of cases) {
      let caught: any;
      try {
        parseDirectoryExport(json, {});
      } catch (err) {
        caught = err;
      }
      expect(caught, field).toMatchObject({ code: DirectoryErrorCode.ExportInvalidDocument, details: { field } });
      expect(caught.message).toContain(`"${field}"`.replace('"(document)"', ''));
    }
  });

  it('refuses an unsupported version', () => {
    expect(() => parseDirectoryExport(mutate(build(), (d) => { d.version = 2; }), {})).toThrow(
      expect.objectContaining({ code: DirectoryErrorCode.ExportUnsupportedVersion }),
    );
  });
});
