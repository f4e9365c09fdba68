/**
 * The IHE XDM writer (issue 28 item 3) read back by medgate's own XDM reader, and by an independent
 * one: Python's zipfile and xml.etree (the hash and size of each document entry checked there, and
 * each CDA document's body decoded back to the document it wraps).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyMessage, DOCUMENT_TYPES, type DocumentType } from '../../src/message/classify/index.js';
import { extractZipEntry, listZipEntries, readXdm } from '../../src/message/identity/index.js';
import { writeXdm } from '../../src/message/identity/xdm-writer.js';
import type { ExtractionInput } from '../../src/message/parse.js';

const PDF = Buffer.from('%PDF-1.4\n% compte rendu de biologie\n%%EOF\n');
const HPRIM = Buffer.from('DUPONT\nJean\n01/02/1960\n');
const AUTHOR = {
  nationalId: '810100000033', familyName: 'BIOLOGISTE', givenName: 'Anne', professionCode: '10', professionLabel: 'Médecin',
  specialtyCode: 'SM05', specialtyLabel: 'Biologie médicale', organisation: 'Laboratoire Bio-Test & Co',
};

function inputWith(zip: Buffer): ExtractionInput {
  return { headers: new Map(), attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: zip }] };
}

describe('XDM writer', () => {
  it('writes an archive the XDM reader reads back: patient with INS, codes, one entry per document', () => {
    const written = writeXdm({
      patient: { familyName: "D'ARTAGNAN", givenName: 'Charles', birthDate: '1961-12-31', sex: 'M', ins: { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' } },
      author: AUTHOR,
      documents: [
        { fileName: 'resultats.pdf', mimeType: 'application/pdf', content: PDF, type: 'biology', title: 'Résultats' },
        { fileName: 'hprim.txt', mimeType: 'text/plain', content: HPRIM, type: 'biology', title: 'NFS <urgent> & ionogramme' },
      ],
    });
    const xdm = readXdm(inputWith(written.zip))!;
    expect(xdm.archive).toBe('IHE_XDM.ZIP');
    expect(xdm.entries).toHaveLength(2);
    // Each document went in wrapped in a CDA N1 document: the entry describes the CDA file.
    expect(xdm.entries[0]).toMatchObject({ mimeType: 'text/xml', uri: 'DOC0001.XML', title: 'Résultats', typeCode: { code: '11502-2', codingScheme: '2.16.840.1.113883.6.1' },
      classCode: { code: '10', codingScheme: '1.2.250.1.213.1.1.4.1', displayName: 'Compte rendu' },
      cda: { code: { code: '11502-2', codingScheme: '2.16.840.1.113883.6.1' }, nonXmlMediaType: 'application/pdf', templateIds: ['2.16.840.1.113883.2.8.2.1', '1.2.250.1.213.1.1.1.1', '1.3.6.1.4.1.19376.1.2.20'] } });
    expect(xdm.entries[1]).toMatchObject({ mimeType: 'text/xml', uri: 'DOC0002.XML', cda: { nonXmlMediaType: 'text/plain' } });
    expect(written.metadataXml).toContain('nodeRepresentation="urn:ihe:iti:xds-sd:pdf:2008"');
    expect(written.metadataXml).toContain('nodeRepresentation="urn:ihe:iti:xds-sd:text:2008"');
    expect(xdm.patients).toHaveLength(1);
    expect(xdm.patients[0]).toEqual({ source: 'xdm', familyName: "D'ARTAGNAN", givenName: 'Charles', birthDate: '1961-12-31', sex: 'M',
      ins: { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' } });
    // The classifier reads the type code back.
    const classified = classifyMessage({ input: inputWith(written.zip), xdm });
    expect(classified.type).toBe('biology');
    // The documents are in the archive, byte for byte, in the CDA bodies the entries point to.
    const entries = listZipEntries(written.zip);
    const cda = extractZipEntry(written.zip, entries.find((e) => e.name === 'IHE_XDM/SUBSET01/DOC0001.XML')!).toString('utf8');
    expect(Buffer.from(/representation="B64">([^<]+)</.exec(cda)![1]!, 'base64')).toEqual(PDF);
    expect(written.metadataXml).toContain('&amp;1.2.250.1.71.4.2.1&amp;ISO');
    // HL7 delimiters never reach an HL7 field; XML specials are escaped where they stay (titles).
    expect(written.metadataXml).toContain('<rim:Value>Laboratoire Bio-Test Co</rim:Value>');
    expect(xdm.entries[1]!.title).toBe('NFS <urgent> & ionogramme');
    expect(written.typeCodes).toEqual(['11502-2', '11502-2']);
    expect(written.cdaCodes).toEqual(['11502-2', '11502-2']);
  });

  it('writes the CI-SIS class code (JDV_J06-XdsClassCode-CISIS, TRE_A03 OID 1.2.250.1.213.1.1.4.1) of each document type, read back per entry', () => {
    // The table as the ANS publishes JDV_J06 (code and label), written out here so that a change of
    // the writer's mapping fails this test instead of following it.
    const expected: Record<DocumentType, [string, string, string]> = {
      summary: ['11', 'Synthèse', '60591-5'],
      'consultation-report': ['10', 'Compte rendu', '11488-4'],
      'hospital-report': ['10', 'Compte rendu', '34133-9'],
      'operative-report': ['10', 'Compte rendu', '34874-8'],
      'exam-report': ['10', 'Compte rendu', '70004-7'],
      'pathology-report': ['10', 'Compte rendu', '60568-3'],
      biology: ['10', 'Compte rendu', '11502-2'],
      imaging: ['31', 'Imagerie médicale', '18748-4'],
      prescription: ['42', 'Prescription', '57833-6'],
      certificate: ['52', 'Certificat, déclaration', '89601-9'],
      letter: ['10', 'Compte rendu', '96349-6'],
      other: ['10', 'Compte rendu', '34109-9'],
    };
    expect(Object.keys(expected).sort()).toEqual([...DOCUMENT_TYPES].sort());
    const written = writeXdm({
      patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07', sex: 'F' },
      author: AUTHOR,
      documents: DOCUMENT_TYPES.map((type) => ({ fileName: `${type}.pdf`, mimeType: 'application/pdf', content: Buffer.from(`%PDF-1.4 ${type}`), type, title: type })),
    });
    const xdm = readXdm(inputWith(written.zip))!;
    expect(xdm.entries).toHaveLength(DOCUMENT_TYPES.length);
    for (const entry of xdm.entries) {
      const [code, displayName, loinc] = expected[entry.title as DocumentType];
      expect({ title: entry.title, classCode: entry.classCode, typeCode: entry.typeCode?.code }).toEqual({
        title: entry.title, classCode: { code, displayName, codingScheme: '1.2.250.1.213.1.1.4.1' }, typeCode: loinc,
      });
      expect(entry.typeCode?.codingScheme).toBe('2.16.840.1.113883.6.1');
    }
    // The classifier goes by the type code, never by a class code: every type reads back as written.
    expect(classifyMessage({ input: inputWith(written.zip), xdm }).documents.map((d) => d.type)).toEqual([...DOCUMENT_TYPES]);
  });

  it('without an INS writes the traits only, which the reader takes as the patient', () => {
    const written = writeXdm({
      patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07', sex: 'F' },
      author: { familyName: 'DEMO', givenName: 'Paul' },
      documents: [{ fileName: 'body', mimeType: 'text/plain', content: Buffer.from('Bonjour'), type: 'letter' }],
    });
    const xdm = readXdm(inputWith(written.zip))!;
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07', sex: 'F' }]);
    expect(written.metadataXml).not.toContain('XDSDocumentEntry.patientId');
  });

  it('reads back with an independent reader (Python zipfile + xml.etree): hash and size of each entry match its file, each CDA body decodes to its document', () => {
    const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const written = writeXdm({
      patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' },
      author: AUTHOR,
      documents: [
        { fileName: 'a.pdf', mimeType: 'application/pdf', content: PDF, type: 'imaging' },
        { fileName: 'b.txt', mimeType: 'text/plain', content: HPRIM, type: 'biology' },
        { fileName: 'c.png', mimeType: 'image/png', content: PNG, type: 'imaging' },
      ],
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-xdm-'));
    try {
      const file = path.join(dir, 'IHE_XDM.ZIP');
      fs.writeFileSync(file, written.zip);
      const script = `
import base64, hashlib, json, sys, zipfile, xml.etree.ElementTree as ET
RIM = '{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}'
V3 = '{urn:hl7-org:v3}'
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
root = ET.fromstring(z.read('IHE_XDM/SUBSET01/METADATA.XML'))
out = []
for eo in root.iter(RIM + 'ExtrinsicObject'):
    slots = {s.get('name'): [v.text for v in s.iter(RIM + 'Value')] for s in eo.findall(RIM + 'Slot')}
    data = z.read('IHE_XDM/SUBSET01/' + slots['URI'][0])
    def code(scheme):
        c = [c for c in eo.findall(RIM + 'Classification') if c.get('classificationScheme') == scheme]
        return c[0].get('nodeRepresentation') + '@' + [v.text for v in c[0].iter(RIM + 'Value')][0] if c else None
    entry = {'uri': slots['URI'][0], 'mimeType': eo.get('mimeType'), 'hashOk': hashlib.sha1(data).hexdigest() == slots['hash'][0], 'sizeOk': str(len(data)) == slots['size'][0],
             'type': code('urn:uuid:f0306f51-975f-434e-a61c-c59651d33983'), 'class': code('urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a'),
             'format': code('urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d'), 'pid5': [v for v in slots['sourcePatientInfo'] if v.startswith('PID-5')]}
    if eo.get('mimeType') == 'text/xml':
        cda = ET.fromstring(data)
        text = cda.find(V3 + 'component/' + V3 + 'nonXMLBody/' + V3 + 'text')
        entry['cdaCode'] = cda.find(V3 + 'code').get('code')
        entry['body'] = [text.get('mediaType'), text.get('representation'), hashlib.sha1(base64.b64decode(text.text)).hexdigest()]
    else:
        entry['body'] = hashlib.sha1(data).hexdigest()
    out.append(entry)
print(json.dumps(out))
`;
      const out = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Array<Record<string, unknown>>;
      const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
      expect(out).toEqual([
        { uri: 'DOC0001.XML', mimeType: 'text/xml', hashOk: true, sizeOk: true, type: '18748-4@2.16.840.1.113883.6.1', class: '31@1.2.250.1.213.1.1.4.1',
          format: 'urn:ihe:iti:xds-sd:pdf:2008@1.3.6.1.4.1.19376.1.2.3', pid5: ['PID-5|MARTIN^Lucie^^^^^L'], cdaCode: '18748-4', body: ['application/pdf', 'B64', sha1(PDF)] },
        { uri: 'DOC0002.XML', mimeType: 'text/xml', hashOk: true, sizeOk: true, type: '11502-2@2.16.840.1.113883.6.1', class: '10@1.2.250.1.213.1.1.4.1',
          format: 'urn:ihe:iti:xds-sd:text:2008@1.3.6.1.4.1.19376.1.2.3', pid5: ['PID-5|MARTIN^Lucie^^^^^L'], cdaCode: '11502-2', body: ['text/plain', 'B64', sha1(HPRIM)] },
        // A PNG cannot be an N1 body (ASS_A12): it goes in as it came, and is no CDA code.
        { uri: 'DOC0003.PNG', mimeType: 'image/png', hashOk: true, sizeOk: true, type: '18748-4@2.16.840.1.113883.6.1', class: '31@1.2.250.1.213.1.1.4.1',
          format: null, pid5: ['PID-5|MARTIN^Lucie^^^^^L'], body: sha1(PNG) },
      ]);
      expect(written.cdaCodes).toEqual(['18748-4', '11502-2']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
