/**
 * The IHE XDM writer (issue 28 item 3) read back by medgate's own XDM reader, and by an independent
 * one: Python's zipfile and xml.etree (the hash and size of each document entry checked there).
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
    expect(xdm.entries[0]).toMatchObject({ mimeType: 'application/pdf', uri: 'DOC0001.PDF', title: 'Résultats', typeCode: { code: '11502-2', codingScheme: '2.16.840.1.113883.6.1' },
      classCode: { code: '10', codingScheme: '1.2.250.1.213.1.1.4.1', displayName: 'Compte rendu' } });
    expect(xdm.patients).toHaveLength(1);
    expect(xdm.patients[0]).toEqual({ source: 'xdm', familyName: "D'ARTAGNAN", givenName: 'Charles', birthDate: '1961-12-31', sex: 'M',
      ins: { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' } });
    // The classifier reads the type code back.
    const classified = classifyMessage({ input: inputWith(written.zip), xdm });
    expect(classified.type).toBe('biology');
    // The documents are in the archive, byte for byte, where the entries say.
    const entries = listZipEntries(written.zip);
    expect(extractZipEntry(written.zip, entries.find((e) => e.name === 'IHE_XDM/SUBSET01/DOC0001.PDF')!)).toEqual(PDF);
    expect(written.metadataXml).toContain('&amp;1.2.250.1.71.4.2.1&amp;ISO');
    // HL7 delimiters never reach an HL7 field; XML specials are escaped where they stay (titles).
    expect(written.metadataXml).toContain('<rim:Value>Laboratoire Bio-Test Co</rim:Value>');
    expect(xdm.entries[1]!.title).toBe('NFS <urgent> & ionogramme');
    expect(written.typeCodes).toEqual(['11502-2', '11502-2']);
  });

  it('writes the CI-SIS class code (JDV_J06-XdsClassCode-CISIS, TRE_A03 OID 1.2.250.1.213.1.1.4.1) of each document type, read back per entry', () => {
    // The table as the ANS publishes JDV_J06 (code and label), written out here so that a change of
    // the writer's mapping fails this test instead of following it.
    const expected: Record<DocumentType, [string, string, string]> = {
      summary: ['11', 'Synthèse', '60591-5'],
      'consultation-report': ['10', 'Compte rendu', '11488-4'],
      'hospital-report': ['10', 'Compte rendu', '34133-9'],
      'operative-report': ['10', 'Compte rendu', '11504-8'],
      'exam-report': ['10', 'Compte rendu', '70004-7'],
      'pathology-report': ['10', 'Compte rendu', '60568-3'],
      biology: ['10', 'Compte rendu', '11502-2'],
      imaging: ['31', 'Imagerie médicale', '18748-4'],
      prescription: ['42', 'Prescription', '57833-6'],
      certificate: ['52', 'Certificat, déclaration', '89601-9'],
      letter: ['10', 'Compte rendu', '34109-9'],
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
    // The classifier still goes by the LOINC type code, never by a class code: every type reads back
    // as written, except `letter`, whose generic "Note" (34109-9) classify/ does not list (so `other`).
    expect(classifyMessage({ input: inputWith(written.zip), xdm }).documents.map((d) => d.type)).toEqual([...DOCUMENT_TYPES].map((t) => (t === 'letter' ? 'other' : t)));
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

  it('reads back with an independent reader (Python zipfile + xml.etree): hash and size of each entry match its file', () => {
    const written = writeXdm({
      patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' },
      author: AUTHOR,
      documents: [
        { fileName: 'a.pdf', mimeType: 'application/pdf', content: PDF, type: 'imaging' },
        { fileName: 'b.txt', mimeType: 'text/plain', content: HPRIM, type: 'biology' },
      ],
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-xdm-'));
    try {
      const file = path.join(dir, 'IHE_XDM.ZIP');
      fs.writeFileSync(file, written.zip);
      const script = `
import hashlib, json, sys, zipfile, xml.etree.ElementTree as ET
RIM = '{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}'
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
root = ET.fromstring(z.read('IHE_XDM/SUBSET01/METADATA.XML'))
out = []
for eo in root.iter(RIM + 'ExtrinsicObject'):
    slots = {s.get('name'): [v.text for v in s.iter(RIM + 'Value')] for s in eo.findall(RIM + 'Slot')}
    data = z.read('IHE_XDM/SUBSET01/' + slots['URI'][0])
    def code(scheme):
        c = [c for c in eo.findall(RIM + 'Classification') if c.get('classificationScheme') == scheme][0]
        return c.get('nodeRepresentation') + '@' + [v.text for v in c.iter(RIM + 'Value')][0]
    out.append({'uri': slots['URI'][0], 'hashOk': hashlib.sha1(data).hexdigest() == slots['hash'][0], 'sizeOk': str(len(data)) == slots['size'][0],
                'type': code('urn:uuid:f0306f51-975f-434e-a61c-c59651d33983'), 'class': code('urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a'),
                'pid5': [v for v in slots['sourcePatientInfo'] if v.startswith('PID-5')]})
print(json.dumps(out))
`;
      const out = JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Array<Record<string, unknown>>;
      expect(out).toEqual([
        { uri: 'DOC0001.PDF', hashOk: true, sizeOk: true, type: '18748-4@2.16.840.1.113883.6.1', class: '31@1.2.250.1.213.1.1.4.1', pid5: ['PID-5|MARTIN^Lucie^^^^^L'] },
        { uri: 'DOC0002.TXT', hashOk: true, sizeOk: true, type: '11502-2@2.16.840.1.113883.6.1', class: '10@1.2.250.1.213.1.1.4.1', pid5: ['PID-5|MARTIN^Lucie^^^^^L'] },
      ]);
      expect(createHash('sha1').update(PDF).digest('hex')).toHaveLength(40);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
