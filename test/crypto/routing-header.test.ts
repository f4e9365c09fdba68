/**
 * seal() builds the routing header by hand instead of running the zod schema over it; these tests
 * hold the builder to the schema: same JSON bytes as RoutingHeader.parse (key order included, unknown
 * fields dropped), every schema field carried, and invalid input still refused by the schema.
 */
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { RoutingHeader, sealedRoutingHeader, type RoutingInput } from '../../src/crypto/seal/routing-header.js';

const DIGEST = 'ab'.repeat(32);
const SEALED_AT = '2026-11-23T08:14:02.000Z';

/** Every optional field present, nulls where the schema allows them. */
const FULL: RoutingInput = {
  messageId: '<demande-avis-0001@cabinet-antony.medgate.test>',
  patient: { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30', sex: 'M', ins: { value: '159018002121980', oid: '1.2.250.1.213.1.4.10' } },
  document: { type: '11502-2', date: '2026-11-23', title: 'Compte rendu de biologie' },
  sender: { address: 'paul.demo@cabinet-antony.medgate.test', nationalId: null, professionCode: '10', professionLabel: 'Médecin', specialtyCode: 'SM54', role: 'treating' },
  recipients: ['claire.martin@cardio-sceaux.medgate.test', 'secretariat@cardio-sceaux.medgate.test'],
  documents: [
    { part: '1', type: '11502-2', title: 'CR', author: { source: 'hprim', id: 'LABOBIO01', name: 'Laboratoire Bio-Test' }, writtenAs: 'replacement' },
    { part: '2', type: '18748-4' },
  ],
  mdnTo: 'paul.demo@cabinet-antony.medgate.test',
  transport: {
    kind: 'mssante', peerSubject: 'CN=mx.labo-biotest.medgate.test', peerFingerprint: '0A:E5', peerDomain: 'labo-biotest.medgate.test',
    sender: { address: 'anne.biologiste@labo-biotest.medgate.test', name: 'Anne BIOLOGISTE', organisation: 'Laboratoire Bio-Test' }, endToEnd: 'none',
  },
};

const MINIMAL: RoutingInput = {
  messageId: '',
  patient: null,
  document: { type: 'other', date: '2026-11-23' },
  sender: { address: 'paul.demo@cabinet-antony.medgate.test' },
  recipients: [],
};

function viaSchema(input: RoutingInput): string {
  return JSON.stringify(RoutingHeader.parse({ ...input, v: 1, contentDigest: DIGEST, sealedAt: SEALED_AT }));
}

describe('sealedRoutingHeader', () => {
  it('gives the same JSON bytes as the schema, for a full and a minimal header', () => {
    for (const input of [FULL, MINIMAL]) {
      const built = sealedRoutingHeader(input, DIGEST, SEALED_AT);
      expect(JSON.stringify(built)).toBe(viaSchema(input));
      expect(RoutingHeader.parse(built)).toEqual(built);
    }
  });

  it('carries every field the schema knows (a field added to the schema must be added to the builder)', () => {
    const built = sealedRoutingHeader(FULL, DIGEST, SEALED_AT);
    expect(Object.keys(built)).toEqual(Object.keys(RoutingHeader.shape));
    expect(Object.keys(built.patient!)).toEqual(Object.keys(RoutingHeader.shape.patient.unwrap().shape));
    expect(Object.keys(built.document)).toEqual(Object.keys(RoutingHeader.shape.document.shape));
    expect(Object.keys(built.sender)).toEqual(Object.keys(RoutingHeader.shape.sender.shape));
    expect(Object.keys(built.documents![0]!)).toEqual(Object.keys(RoutingHeader.shape.documents.unwrap().element.shape));
    expect(Object.keys(built.transport!)).toEqual(Object.keys(RoutingHeader.shape.transport.unwrap().shape));
    expect(Object.keys(built.transport!.sender)).toEqual(Object.keys(RoutingHeader.shape.transport.unwrap().shape.sender.shape));
  });

  it('drops fields the schema does not know, as the schema does', () => {
    const extra = { ...FULL, leaked: 'x', patient: { ...FULL.patient!, nir: '1590175123456' } } as RoutingInput;
    const json = JSON.stringify(sealedRoutingHeader(extra, DIGEST, SEALED_AT));
    expect(json).toBe(viaSchema(extra));
    expect(json).not.toContain('leaked');
    expect(json).not.toContain('1590175123456');
  });

  it('does not share arrays or objects with the caller', () => {
    const input = structuredClone(FULL);
    const built = sealedRoutingHeader(input, DIGEST, SEALED_AT);
    input.recipients.push('late@x.test');
    input.patient!.familyName = 'CHANGED';
    expect(built.recipients).toHaveLength(2);
    expect(built.patient!.familyName).toBe('DUPONT');
  });

  it('refuses what the schema refuses, with the schema error', () => {
    const badDate = { ...FULL, patient: { ...FULL.patient!, birthDate: '30/01/1959' } };
    expect(() => sealedRoutingHeader(badDate, DIGEST, SEALED_AT)).toThrow(ZodError);
    expect(() => sealedRoutingHeader(FULL, 'not-a-digest', SEALED_AT)).toThrow(ZodError);
    const notString = { ...FULL, recipients: [42] } as unknown as RoutingInput;
    expect(() => sealedRoutingHeader(notString, DIGEST, SEALED_AT)).toThrow(ZodError);
  });
});
