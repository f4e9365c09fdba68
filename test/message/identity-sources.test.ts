import { describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import {
  decodeUnlabelledText,
  normalizeName,
  parseHprim,
  patientKey,
  readPatientHeaders,
  readSubjectTag,
  readXdm,
  XDM_METADATA_INVALID,
} from '../../src/message/identity/index.js';
import { buildXdmZip, input, METADATA_XML, sample, SMALL_PDF } from './fixtures.js';

const DUPONT = { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' };

describe('names', () => {
  it('normalises accents, case, hyphens, apostrophes and spaces', () => {
    expect(normalizeName('  Hélène-Marie  d’Arc ')).toBe('HELENE MARIE D ARC');
    expect(normalizeName('DUPONT-MARTIN')).toBe(normalizeName('Dupont  Martin'));
    expect(patientKey({ familyName: 'Le Goff', givenName: 'Anaïs', birthDate: '2001-02-03' })).toBe('LE GOFF|ANAIS|2001-02-03');
  });
});

describe('XDM source', () => {
  it('reads the sample METADATA.XML from an IHE_XDM.ZIP with a PDF', () => {
    const xdm = readXdm(input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: buildXdmZip() }] }));
    expect(xdm?.archive).toBe('IHE_XDM.ZIP');
    expect(xdm?.entries).toEqual([
      {
        id: 'Document01',
        subset: 'SUBSET01',
        mimeType: 'application/pdf',
        title: "Compte rendu d'hospitalisation",
        creationTime: '20261123081500',
        classCode: { code: '10', codingScheme: '1.2.250.1.213.1.1.4.1', displayName: 'Compte rendu' },
        typeCode: { code: '18842-5', codingScheme: '2.16.840.1.113883.6.1', displayName: 'Lettre de sortie' },
      },
    ]);
    expect(xdm?.patients).toEqual([
      { source: 'xdm', ...DUPONT, sex: 'M', ins: { value: '159018002121980', oid: '1.2.250.1.213.1.4.10', kind: 'test' } },
    ]);
  });

  it('finds XDM in any zip holding IHE_XDM/, reads the URI slot, ignores unrelated zips', () => {
    const withUri = METADATA_XML().replace(
      '<rim:Slot name="creationTime">',
      '<rim:Slot name="URI"><rim:ValueList><rim:Value>DOC0001.PDF</rim:Value></rim:ValueList></rim:Slot><rim:Slot name="creationTime">',
    );
    const xdm = readXdm(input({ attachments: [{ filename: 'envoi.zip', contentType: 'application/zip', content: buildXdmZip(withUri) }] }));
    expect(xdm?.entries[0]?.uri).toBe('DOC0001.PDF');
    const other = readXdm(input({ attachments: [{ filename: 'photos.zip', contentType: 'application/zip', content: Buffer.from('PK garbage') }] }));
    expect(other).toBeUndefined();
  });

  it('refuses metadata with DOCTYPE, and an XDM archive without metadata', () => {
    const evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>';
    const att = (content: Buffer) => input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content }] });
    expect(() => readXdm(att(buildXdmZip(evil)))).toThrowError(expect.objectContaining({ code: XDM_METADATA_INVALID }));
    const noMeta = buildXdmZip(METADATA_XML(), {});
    // Replace the metadata path by renaming the entry bytes in place (same length).
    const renamed = Buffer.from(noMeta.toString('latin1').replaceAll('METADATA.XML', 'METADATA.XXX'), 'latin1');
    expect(() => readXdm(att(renamed))).toThrow(MedgateError);
  });

  it('reports PID-3 and patientId INS that differ as two identities', () => {
    const xml = METADATA_XML().replace(
      'value="159018002121980^^^&amp;1.2.250.1.213.1.4.10&amp;ISO" id="ei01"',
      'value="286027512345623^^^&amp;1.2.250.1.213.1.4.10&amp;ISO" id="ei01"',
    );
    expect(xml).not.toBe(METADATA_XML());
    const xdm = readXdm(input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: buildXdmZip(xml) }] }));
    expect(xdm?.patients.map((p) => p.ins?.value)).toEqual(['159018002121980', '286027512345623']);
  });
});

describe('header source', () => {
  const h = (o: Record<string, string>) => new Map(Object.entries(o));
  it('reads the X-Medgate-Patient-* fields (both date formats, INS with and without OID)', () => {
    expect(
      readPatientHeaders(
        h({
          'x-medgate-patient-nom': 'DUPONT',
          'x-medgate-patient-prenom': 'Jean',
          'x-medgate-patient-naissance': '30/01/1959',
          'x-medgate-patient-sexe': 'm',
          'x-medgate-patient-ins': '159018002121980^^^&1.2.250.1.213.1.4.10&ISO',
        }),
      ),
    ).toEqual({ identity: { source: 'header', ...DUPONT, sex: 'M', ins: { value: '159018002121980', oid: '1.2.250.1.213.1.4.10', kind: 'test' } } });
    const r = readPatientHeaders(
      h({ 'x-medgate-patient-nom': 'DUPONT', 'x-medgate-patient-prenom': 'Jean', 'x-medgate-patient-naissance': '1959-01-30', 'x-medgate-patient-ins': '1 59 01 80 021 219 80' }),
    );
    expect(r).toEqual({ identity: { source: 'header', ...DUPONT, ins: { value: '159018002121980', oid: '1.2.250.1.213.1.4.8', kind: 'NIR' } } });
  });

  it('refuses invalid dates, sexes, INS keys and missing names', () => {
    const base = { 'x-medgate-patient-nom': 'DUPONT', 'x-medgate-patient-prenom': 'Jean', 'x-medgate-patient-naissance': '30/01/1959' };
    const reasonOf = (o: Record<string, string>) => {
      const r = readPatientHeaders(h(o));
      return r && 'rejected' in r ? r.rejected.reason : undefined;
    };
    expect(reasonOf({ ...base, 'x-medgate-patient-naissance': '31/02/2020' })).toMatch(/Naissance/);
    expect(reasonOf({ ...base, 'x-medgate-patient-naissance': '01/01/2999' })).toMatch(/Naissance/);
    expect(reasonOf({ ...base, 'x-medgate-patient-sexe': 'X' })).toMatch(/Sexe/);
    expect(reasonOf({ ...base, 'x-medgate-patient-ins': '159018002121981' })).toMatch(/INS/);
    expect(reasonOf({ ...base, 'x-medgate-patient-ins': '159018002121980^^^&1.2.3&ISO' })).toMatch(/INS/);
    expect(reasonOf({ 'x-medgate-patient-nom': 'DUPONT' })).toMatch(/Prenom/);
    expect(readPatientHeaders(h({ subject: 'x' }))).toBeUndefined();
  });
});

describe('HPRIM source', () => {
  it('parses the UTF-8 sample: identity, NIR, LAB results, FINFICHIER', () => {
    const doc = parseHprim(sample('hprim-biologie.txt').toString('utf8'), 'body');
    expect(doc?.complete).toBe(true);
    expect(doc?.multiPatient).toBe(false);
    expect(doc?.sections[0]?.patient).toEqual({ source: 'hprim', ...DUPONT, nir: '159018002121980' });
    expect(doc?.sections[0]?.fileDate).toBe('2026-11-23');
    expect(doc?.hasLabBlock).toBe(true);
    expect(doc?.sections[0]?.results).toHaveLength(4);
    expect(doc?.sections[0]?.results[2]).toEqual({ label: 'Glycémie à jeun', code: 'GLY', value: '1.32', unit: 'g/L', low: '0.70', high: '1.10', flag: 'H' });
  });

  it('gives the same identity from the ISO-8859-1 sample', () => {
    const latin1 = sample('hprim-biologie.latin1.txt');
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(latin1)).toThrow();
    const a = parseHprim(decodeUnlabelledText(latin1), 'x');
    const b = parseHprim(decodeUnlabelledText(sample('hprim-biologie.txt')), 'x');
    expect(a?.sections[0]?.patient).toEqual(b?.sections[0]?.patient);
    expect(a?.sections[0]?.results[2]?.label).toBe('Glycémie à jeun');
  });

  const header = (o: { title?: string; nir?: string; birth?: string; fileDate?: string; family?: string } = {}) =>
    [
      ...(o.title ? [o.title] : []),
      'P123',
      o.family ?? 'LE GOFF',
      'Anne-Marie',
      '1 rue X',
      '',
      '29000 QUIMPER',
      o.birth ?? '05/06/1970',
      o.nir ?? '',
      'D42',
      o.fileDate ?? '01/02/2026',
      'LAB1      Labo',
      'DOC1      Dr Y',
      '',
      'Texte libre',
    ].join('\r\n');

  it('accepts a title line, an empty NIR and an empty 13th line; refuses 31/02 and ordinary letters', () => {
    const doc = parseHprim(header({ title: 'RESULTATS DE BIOLOGIE' }), 'body');
    expect(doc?.sections[0]?.patient).toEqual({ source: 'hprim', familyName: 'LE GOFF', givenName: 'Anne-Marie', birthDate: '1970-06-05' });
    expect(doc?.hasLabBlock).toBe(false);
    expect(parseHprim(header({ birth: '31/02/1970' }), 'body')).toBeUndefined();
    expect(parseHprim(header({ fileDate: 'pas une date' }), 'body')).toBeUndefined();
    expect(parseHprim(header({ birth: '05/06/1970', fileDate: '01/01/1960' }), 'body')).toBeUndefined();
    expect(parseHprim(sample('subject-tag-outlook.eml').toString('utf8'), 'body')).toBeUndefined();
  });

  it('reports every patient of a multi-patient file', () => {
    const two = [
      header(),
      '****LAB****',
      'RES|Potassium|K|N|4.1|mmol/L|3.5|5.0||F',
      '****FIN****',
      header({ family: 'MARTIN' }),
      '****FIN****',
      '****FINFICHIER****',
    ].join('\n');
    const doc = parseHprim(two, 'resultats.hpr');
    expect(doc?.multiPatient).toBe(true);
    expect(doc?.sections.map((s) => s.patient.familyName)).toEqual(['LE GOFF', 'MARTIN']);
    expect(doc?.sections.map((s) => s.hasLabBlock)).toEqual([true, false]);
    expect(doc?.sections[0]?.results[0]?.code).toBe('K');
  });
});

describe('subject tag source', () => {
  const id = (s: string) => {
    const r = readSubjectTag(s);
    return r && 'identity' in r ? r.identity : r;
  };
  it('reads the tag anywhere, any case, three date separators, compound names', () => {
    expect(id("PATIENT: DUPONT Jean 30/01/1959 - demande d'avis")).toEqual({ source: 'subject', ...DUPONT });
    expect(id('TR: Patient : DUPONT-MARTIN Jean-Louis 01-02-1980 résultats')).toMatchObject({ familyName: 'DUPONT-MARTIN', givenName: 'Jean-Louis', birthDate: '1980-02-01' });
    expect(id('patient:LE GOFF Anne 3.4.1990')).toMatchObject({ familyName: 'LE GOFF', givenName: 'Anne', birthDate: '1990-04-03' });
    expect(id('PATIENT: LE GOFF ANNE 03/04/1990')).toMatchObject({ familyName: 'LE GOFF', givenName: 'ANNE' });
    expect(id("PATIENT: D'ARTAGNAN Charles 03/04/1990")).toMatchObject({ familyName: "D'ARTAGNAN", givenName: 'Charles' });
    expect(id('XDM/1.0/DDM+PATIENT: Jean DUPONT 30/01/1959')).toMatchObject({ familyName: 'DUPONT', givenName: 'Jean' });
  });

  it('refuses impossible dates and mixed separators; ignores subjects without a tag', () => {
    expect(readSubjectTag('PATIENT: DUPONT Jean 31/02/2020')).toEqual({ rejected: { source: 'subject', reason: 'subject tag birth date is not a real date' } });
    expect(readSubjectTag('PATIENT: DUPONT Jean 30/01-1959')).toBeUndefined();
    expect(readSubjectTag('Résultats du 30/01/2026')).toBeUndefined();
    expect(readSubjectTag('PATIENT: DUPONT 30/01/1959')).toMatchObject({ rejected: { source: 'subject' } });
  });
});

it('test fixture PDF is a PDF', () => {
  expect(SMALL_PDF.subarray(0, 5).toString()).toBe('%PDF-');
});
