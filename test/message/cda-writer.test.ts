/**
 * The CDA R2 N1 documents medgate puts in an IHE_XDM archive (issue 28 item 3), read by an
 * independent CDA reader, Medplum's C-CDA → FHIR converter (@medplum/ccda, npm): the patient with
 * the INS under its OID, the document type, the author's national id, the custodian. And medgate's
 * own XDM reader typing an inbound archive from its CDA headers when the metadata has no typeCode.
 */
import { convertCcdaToFhir, convertXmlToCcda } from '@medplum/ccda';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { classifyMessage, DOCUMENT_TYPES } from '../../src/message/classify/index.js';
import { readCdaHeader } from '../../src/message/identity/cda-reader.js';
import { writeCdaN1 } from '../../src/message/identity/cda-writer.js';
import { readXdm } from '../../src/message/identity/index.js';
import { writeXdm } from '../../src/message/identity/xdm-writer.js';
import type { ExtractionInput } from '../../src/message/parse.js';

const PDF = Buffer.from('%PDF-1.4\n% compte rendu\n%%EOF\n');
const AUTHOR = {
  nationalId: '810100000017', familyName: 'DEMO', givenName: 'Paul', professionCode: '10', professionLabel: 'Médecin',
  specialtyCode: 'SM54', specialtyLabel: 'Médecine générale', organisation: 'Cabinet médical des Plantes',
};
const INS = { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' as const };

function cda(patient: Parameters<typeof writeCdaN1>[0]['patient']): string {
  return writeCdaN1({
    id: '2.25.1234.1', setId: '2.25.5678.1', type: 'imaging', title: 'Radiographie <thorax> & face', mediaType: 'application/pdf', content: PDF,
    patient, author: AUTHOR, custodian: 'Cabinet médical des Plantes', time: new Date('2026-03-02T10:15:00Z'),
  }).xml;
}

type Resource = { resourceType: string } & Record<string, unknown>;

function fhir(xml: string): Resource[] {
  const bundle = convertCcdaToFhir(convertXmlToCcda(xml));
  return (bundle.entry ?? []).map((e) => e.resource as unknown as Resource);
}

function inputWith(zip: Uint8Array): ExtractionInput {
  return { headers: new Map(), attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: Buffer.from(zip) }] };
}

describe('CDA R2 N1 writer', () => {
  it('an independent reader (@medplum/ccda) reads the patient with the INS under its OID, the type, the author and the custodian', () => {
    const resources = fhir(cda({ familyName: "D'ARTAGNAN", givenName: 'Charles', birthDate: '1961-12-31', sex: 'M', ins: INS }));
    const patient = resources.find((r) => r.resourceType === 'Patient')!;
    expect(patient).toMatchObject({
      identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.10', value: '161037512345653' }],
      name: [{ family: "D'ARTAGNAN", given: ['Charles'] }], birthDate: '1961-12-31', gender: 'male',
    });
    const composition = resources.find((r) => r.resourceType === 'Composition')!;
    expect(composition).toMatchObject({ type: { coding: [{ system: 'http://loinc.org', code: '18748-4', display: "CR d'imagerie médicale" }] }, title: 'Radiographie <thorax> & face', date: '2026-03-02T10:15:00Z' });
    const practitioner = resources.find((r) => r.resourceType === 'Practitioner')!;
    expect(practitioner).toMatchObject({
      identifier: [{ system: 'urn:oid:1.2.250.1.71.4.2.1', value: '810100000017' }], name: [{ family: 'DEMO', given: ['Paul'] }],
      qualification: [{ code: { coding: [{ system: 'urn:oid:1.2.250.1.213.1.1.4.5', code: 'G15_10/SM54' }] } }],
    });
    expect(resources.find((r) => r.resourceType === 'Organization')).toMatchObject({ name: 'Cabinet médical des Plantes' });
  });

  it('without an INS the patient has no identifier (nullFlavor), only the traits', () => {
    const xml = cda({ familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' });
    expect(xml).toMatch(/<patientRole>\s*<id nullFlavor="UNK"\/>/);
    expect(xml).toMatch(/<administrativeGenderCode nullFlavor="UNK"\/>/);
    const patient = fhir(xml).find((r) => r.resourceType === 'Patient')!;
    expect(patient.identifier ?? []).toEqual([]);
    expect(patient).toMatchObject({ name: [{ family: 'MARTIN', given: ['Lucie'] }], birthDate: '1985-03-07' });
  });

  it('medgate\'s CDA reader reads the header and the body\'s media type, and refuses entity declarations', () => {
    const xml = cda({ familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07', sex: 'F' });
    expect(readCdaHeader(xml)).toEqual({
      code: { code: '18748-4', codingScheme: '2.16.840.1.113883.6.1', displayName: "CR d'imagerie médicale" }, title: 'Radiographie <thorax> & face',
      templateIds: ['2.16.840.1.113883.2.8.2.1', '1.2.250.1.213.1.1.1.1', '1.3.6.1.4.1.19376.1.2.20'], nonXmlMediaType: 'application/pdf',
    });
    expect(readCdaHeader(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>${xml.replace(/^<\?xml[^>]*>/, '')}`)).toBeUndefined();
    expect(readCdaHeader('<html><body>not a CDA</body></html>')).toBeUndefined();
    // A "header" of megabytes (no body to stop at) is not parsed; a large body is no obstacle.
    expect(readCdaHeader(xml.replace('<title>', `<title>${'x'.repeat(1024 * 1024)}`))).toBeUndefined();
    const big = readCdaHeader(xml.replace(/representation="B64">[^<]*</, `representation="B64">${'QUJD'.repeat(2_000_000)}<`));
    expect(big?.code?.code).toBe('18748-4');
  });

  it('an inbound archive whose metadata has no typeCode is typed from its CDA headers, every document type', () => {
    const written = writeXdm({
      patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07', sex: 'F' }, author: AUTHOR,
      documents: DOCUMENT_TYPES.map((type) => ({ fileName: `${type}.pdf`, mimeType: 'application/pdf', content: Buffer.from(`%PDF-1.4 ${type}`), type, title: `Document ${type}` })),
    });
    // The same archive as a sender that writes no typeCode nor classCode in its metadata.
    const files = unzipSync(written.zip);
    const metadata = strFromU8(files['IHE_XDM/SUBSET01/METADATA.XML']!)
      .replace(/<rim:Classification[^>]*classificationScheme="urn:uuid:(?:f0306f51-975f-434e-a61c-c59651d33983|41a5887f-8865-4c09-adf7-e362475b143a)"[\s\S]*?<\/rim:Classification>/g, '');
    expect(metadata).not.toContain('f0306f51');
    files['IHE_XDM/SUBSET01/METADATA.XML'] = strToU8(metadata);
    const input = inputWith(zipSync(files));
    const xdm = readXdm(input)!;
    expect(xdm.entries.map((e) => e.typeCode?.code)).toEqual(written.cdaCodes);
    expect(classifyMessage({ input, xdm }).documents.map((d) => d.type)).toEqual([...DOCUMENT_TYPES]);
  });

  it('a CDA file that does not inflate (CRC mismatch) is read no further; the metadata still types the entry', () => {
    const written = writeXdm({ patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' }, author: AUTHOR,
      documents: [{ fileName: 'cr.pdf', mimeType: 'application/pdf', content: PDF, type: 'biology' }] });
    const files = unzipSync(written.zip);
    const zip = Buffer.from(zipSync(files, { level: 0 })); // stored, so the CDA's bytes are in the clear
    zip[zip.indexOf('<ClinicalDocument') + 3] ^= 0x20;
    const xdm = readXdm(inputWith(zip))!;
    expect(xdm.entries).toEqual([expect.objectContaining({ uri: 'DOC0001.XML', typeCode: expect.objectContaining({ code: '11502-2' }) })]);
    expect(xdm.entries[0]!.cda).toBeUndefined();
  });
});
