import { describe, expect, it } from 'vitest';
import { extractPatientIdentity } from '../../src/message/identity/index.js';
import { parseForExtraction } from '../../src/message/parse.js';
import { buildXdmZip, composeMessage, sample } from './fixtures.js';

const DUPONT = { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' };
const xdmAttachment = () => ({ filename: 'IHE_XDM.ZIP', content: buildXdmZip(), contentType: 'application/zip' });
const headers = (o: Partial<Record<'nom' | 'prenom' | 'naissance', string>> = {}) => ({
  'X-Medgate-Patient-Nom': o.nom ?? 'Dupont',
  'X-Medgate-Patient-Prenom': o.prenom ?? 'Jean',
  'X-Medgate-Patient-Naissance': o.naissance ?? '30/01/1959',
});

async function extractFrom(o: Parameters<typeof composeMessage>[0]) {
  return extractPatientIdentity(await parseForExtraction(await composeMessage(o)));
}

describe('extractPatientIdentity: each source alone, through a real MIME message', () => {
  it('XDM (with X-MSS-INS flag)', async () => {
    const r = await extractFrom({ attachments: [xdmAttachment()], headers: { 'X-MSS-INS': 'O' } });
    expect(r.patient).toMatchObject({ source: 'xdm', ...DUPONT, ins: { kind: 'test' } });
    expect(r.mssInsFlag).toBe(true);
    expect(r.conflicts).toEqual([]);
    expect(r.xdm?.entries).toHaveLength(1);
  });

  it('explicit header fields', async () => {
    const r = await extractFrom({ headers: headers() });
    expect(r.sources).toEqual([{ source: 'header', ...DUPONT, familyName: 'Dupont' }]);
  });

  it('HPRIM in the body (UTF-8) and as a latin1 .hpr attachment give the same identity', async () => {
    const inBody = await extractFrom({ text: sample('hprim-biologie.txt').toString('utf8') });
    const asFile = await extractFrom({
      attachments: [{ filename: 'RESULTAT.HPR', content: sample('hprim-biologie.latin1.txt'), contentType: 'application/octet-stream' }],
    });
    expect(inBody.patient).toEqual({ source: 'hprim', ...DUPONT, nir: '159018002121980' });
    expect(asFile.patient).toEqual(inBody.patient);
    expect(asFile.hprim[0]?.part).toBe('RESULTAT.HPR');
  });

  it('subject tag (Outlook sample)', async () => {
    const r = extractPatientIdentity(await parseForExtraction(sample('subject-tag-outlook.eml')));
    expect(r.patient).toEqual({ source: 'subject', ...DUPONT });
    expect(r.sources).toHaveLength(1);
  });

  it('no source at all', async () => {
    const r = await extractFrom({ subject: 'Bonjour' });
    expect(r.patient).toBeUndefined();
    expect(r.sources).toEqual([]);
    expect(r.conflicts).toEqual([]);
  });
});

describe('trust order and conflicts', () => {
  it('agreeing sources: the most trusted is chosen, compound spelling differences are not conflicts', async () => {
    const r = await extractFrom({
      subject: 'PATIENT: DUPONT JEAN 30.01.1959',
      text: sample('hprim-biologie.txt').toString('utf8'),
      headers: headers({ nom: 'Dupont', prenom: 'Jéan' }),
      attachments: [xdmAttachment()],
    });
    expect(r.sources.map((s) => s.source)).toEqual(['xdm', 'header', 'hprim', 'subject']);
    expect(r.patient?.source).toBe('xdm');
    expect(r.conflicts).toEqual([]);
  });

  it('reports different names and birth dates between sources, never merging', async () => {
    const r = await extractFrom({
      subject: 'PATIENT: DURAND Jean 30/01/1959',
      headers: headers({ naissance: '1959-01-31' }),
      attachments: [xdmAttachment()],
    });
    expect(r.patient).toMatchObject({ source: 'xdm', familyName: 'DUPONT', birthDate: '1959-01-30' });
    expect(r.conflicts).toEqual([
      { field: 'familyName', sources: ['xdm', 'header', 'subject'] },
      { field: 'birthDate', sources: ['xdm', 'header', 'subject'] },
    ]);
  });

  it('reports INS disagreement between XDM and header', async () => {
    const r = await extractFrom({
      headers: { ...headers(), 'X-Medgate-Patient-INS': '159018002121980^^^&1.2.250.1.213.1.4.8&ISO' },
      attachments: [xdmAttachment()],
    });
    expect(r.conflicts).toEqual([{ field: 'ins', sources: ['xdm', 'header'] }]);
  });

  it('a multi-patient HPRIM file yields one source per patient, in conflict', async () => {
    const one = sample('hprim-biologie.txt').toString('utf8').replace('****FINFICHIER****\n', '');
    const other = one.replace('DUPONT', 'MARTIN').replace('30/01/1959', '02/03/1961');
    const r = await extractFrom({ attachments: [{ filename: 'lot.hpr', content: Buffer.from(one + other + '****FINFICHIER****\n'), contentType: 'text/plain' }] });
    expect(r.hprim[0]?.multiPatient).toBe(true);
    expect(r.sources.map((s) => s.familyName)).toEqual(['DUPONT', 'MARTIN']);
    expect(r.conflicts.map((c) => c.field)).toEqual(['familyName', 'birthDate']);
    expect(r.conflicts[0]?.sources).toEqual(['hprim#1', 'hprim#2']);
  });

  it('an invalid subject date is refused and reported, other sources still used', async () => {
    const r = await extractFrom({ subject: 'PATIENT: DUPONT Jean 31/02/2020', headers: headers() });
    expect(r.patient?.source).toBe('header');
    expect(r.sources).toHaveLength(1);
    expect(r.rejected).toEqual([{ source: 'subject', reason: 'subject tag birth date is not a real date' }]);
  });
});
