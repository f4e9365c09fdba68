import { describe, expect, it } from 'vitest';
import { classifyMessage } from '../../src/message/classify/index.js';
import { extractPatientIdentity, titleWithoutSubjectTag } from '../../src/message/identity/index.js';
import { parseForExtraction } from '../../src/message/parse.js';
import { buildXdmZip, composeMessage, input, METADATA_XML, sample, SMALL_PDF } from './fixtures.js';

async function classifyRaw(raw: Buffer, sender?: Parameters<typeof classifyMessage>[0]['sender']) {
  const parsed = await parseForExtraction(raw);
  const extraction = extractPatientIdentity(parsed);
  return classifyMessage({ input: parsed, hprim: extraction.hprim, ...(extraction.xdm ? { xdm: extraction.xdm } : {}), ...(sender ? { sender } : {}) });
}

const pdf = (filename: string) => ({ filename, content: SMALL_PDF, contentType: 'application/pdf' });

describe('classifyMessage', () => {
  it('XDM typeCode wins over subject and sender; the archive counts as its entries', async () => {
    const r = await classifyRaw(
      await composeMessage({ subject: 'Ordonnance', attachments: [{ filename: 'IHE_XDM.ZIP', content: buildXdmZip(), contentType: 'application/zip' }] }),
      { specialtyCode: 'SM05' },
    );
    expect(r.type).toBe('hospital-report');
    expect(r.reason).toBe('xdm typeCode 18842-5');
    expect(r.documents).toEqual([
      { part: 'Document01', type: 'hospital-report', title: "Compte rendu d'hospitalisation" },
      // The body beside the archive is its covering note: the subject names the attachments.
      { part: 'body', type: 'letter' },
    ]);
  });

  it.each([
    ['11488-4', 'consultation-report'],
    ['11502-2', 'biology'],
    ['18748-4', 'imaging'],
    ['11504-8', 'operative-report'],
    ['57833-6', 'prescription'],
    ['60591-5', 'summary'],
    ['34133-9', 'hospital-report'],
  ])('LOINC %s → %s', async (code, type) => {
    const parsed = input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: buildXdmZip(METADATA_XML().replace('18842-5', code)) }] });
    const { xdm } = extractPatientIdentity(parsed);
    expect(xdm).toBeDefined();
    if (xdm) expect(classifyMessage({ input: parsed, xdm }).type).toBe(type);
  });

  it('HPRIM LAB block → biology, even from a GP with a neutral subject', async () => {
    const r = await classifyRaw(await composeMessage({ subject: 'Envoi', text: sample('hprim-biologie.txt').toString('utf8') }), { professionCode: '10', specialtyCode: 'SM54' });
    // The lab its header names (line 11) is the author the document claims.
    expect(r).toEqual({
      type: 'biology', reason: 'HPRIM ****LAB**** block',
      documents: [{ part: 'body', type: 'biology', author: { source: 'hprim', id: 'LABOBIO01', name: 'Laboratoire Bio-Test Antony' } }],
    });
  });

  it('each attachment is its own document, typed by its name or type', async () => {
    const r = await classifyRaw(
      await composeMessage({
        subject: 'Documents',
        text: 'Bonjour, ci-joint.',
        attachments: [
          pdf('Ordonnance_2026-11-23.pdf'),
          pdf('CR_consultation_cardio.pdf'),
          pdf('CRO_appendicectomie.pdf'),
          { filename: 'thorax.dcm', content: Buffer.alloc(200), contentType: 'application/dicom' },
          pdf('Echographie abdominale.pdf'),
          pdf('scan0001.pdf'),
        ],
      }),
    );
    expect(r.documents).toEqual([
      { part: 'body', type: 'letter' },
      { part: 'Ordonnance_2026-11-23.pdf', type: 'prescription' },
      { part: 'CR_consultation_cardio.pdf', type: 'consultation-report' },
      { part: 'CRO_appendicectomie.pdf', type: 'operative-report' },
      { part: 'thorax.dcm', type: 'imaging' },
      { part: 'Echographie abdominale.pdf', type: 'imaging' },
      { part: 'scan0001.pdf', type: 'other' },
    ]);
    expect(r.type).toBe('prescription');
    expect(r.reason).toBe('attachment name keyword "ordonnance"');
  });

  it.each([
    ['Compte rendu opératoire - Mme X', 'operative-report'],
    ['Ordonnance renouvellement', 'prescription'],
    ['VMS à jour', 'summary'],
    ['Synthèse médicale', 'summary'],
    ['Radiographie du genou', 'imaging'],
    ['échographie pelvienne', 'imaging'],
    ['Résultats de biologie', 'biology'],
    ['Courrier pour le Dr Y', 'letter'],
    ["Lettre de sortie d'hospitalisation", 'hospital-report'],
  ])('subject "%s" → %s', (subject, type) => {
    expect(classifyMessage({ input: input({ subject, textBody: 'texte' }) }).type).toBe(type);
  });

  it('falls back to the sender: biologist → biology, radiologist → imaging, else letter/other', () => {
    const att = { attachments: [{ filename: 'doc.pdf', contentType: 'application/pdf', content: SMALL_PDF }] };
    const noSignal = input({ subject: 'Envoi', ...att });
    expect(classifyMessage({ input: noSignal, sender: { specialtyCode: 'SM05' } }).type).toBe('biology');
    expect(classifyMessage({ input: noSignal, sender: { professionCode: '21', specialtyLabel: 'Pharmacien biologiste' } }).type).toBe('biology');
    expect(classifyMessage({ input: noSignal, sender: { specialtyLabel: 'Radio-diagnostic et imagerie médicale' } })).toMatchObject({ type: 'imaging', documents: [{ part: 'doc.pdf', type: 'imaging' }] });
    expect(classifyMessage({ input: noSignal, sender: { professionCode: '10', specialtyCode: 'SM54', specialtyLabel: null } }).type).toBe('other');
    expect(classifyMessage({ input: input({ subject: 'Bonjour', textBody: 'Cher confrère' }) })).toEqual({
      type: 'letter',
      reason: 'subject keyword "bonjour"',
      documents: [{ part: 'body', type: 'letter' }],
    });
    expect(classifyMessage({ input: input({ subject: 'Envoi', textBody: 'Texte sans mot-clé' }) })).toEqual({
      type: 'letter',
      reason: 'plain text message without attachment',
      documents: [{ part: 'body', type: 'letter' }],
    });
  });

  it('the subject\'s patient tag is no keyword, and the issue 30 story is typed as doctors meant it', () => {
    // "ECHO" is a family name here, not an echography.
    expect(classifyMessage({ input: input({ subject: 'PATIENT: ECHO Jean 30/01/1959 Courrier', textBody: 'texte' }) }).type).toBe('letter');
    const pdf = (filename: string) => ({ filename, contentType: 'application/pdf', content: SMALL_PDF });
    const resume = 'Résumé médical\n\nAntécédents : HTA\nAllergies : aucune\nTraitement en cours : ramipril\nVaccinations : à jour\n';
    const r = classifyMessage({ input: input({ subject: 'PATIENT: DUPONT Jean 30/01/1959 Résumé médical', textBody: resume, attachments: [pdf('CRH_pneumologie.pdf')] }) });
    expect(r.documents).toEqual([{ part: 'body', type: 'summary' }, { part: 'CRH_pneumologie.pdf', type: 'hospital-report' }]);
    const untitled = 'Antécédents : HTA\nAllergies : pénicilline\nTraitement en cours : ramipril\n';
    expect(classifyMessage({ input: input({ subject: 'Mise à jour', textBody: untitled, attachments: [pdf('doc.pdf')] }) }).documents[0]).toEqual({ part: 'body', type: 'summary' });
    for (const [name, type] of [['ECG.pdf', 'exam-report'], ['EFR.pdf', 'exam-report'], ['histologie.pdf', 'pathology-report'], ['certificat.pdf', 'certificate']] as const) {
      expect(classifyMessage({ input: input({ subject: 'Envoi', attachments: [pdf(name)] }) }).documents[0]).toEqual({ part: name, type });
    }
  });

  it('a short body that names the kind of document attached is its covering note, not a second report by the sender', () => {
    const pdf = (filename: string) => ({ filename, contentType: 'application/pdf', content: SMALL_PDF });
    const body = (textBody: string, attachments: ReturnType<typeof pdf>[]) =>
      classifyMessage({ input: input({ subject: 'PATIENT: DUPONT Jean 30/01/1959 Histologie', textBody, attachments }) }).documents.find((d) => d.part === 'body')!.type;
    // A GP forwarding the pathologist's PDF has not written a pathology report.
    expect(body('Résultat des biopsies bronchiques.\n', [pdf('histologie.pdf')])).toBe('letter');
    expect(body('ECG du jour\n', [pdf('ECG.pdf')])).toBe('letter');
    // Without the attachment, or beside another kind, the same line is the body's own title.
    expect(body('Résultat des biopsies bronchiques.\n', [])).toBe('pathology-report');
    expect(body('ECG du jour : rythme sinusal\n', [pdf('histologie.pdf')])).toBe('exam-report');
    // A report of its own (longer than a note) or a summary keeps its type beside attachments of the same kind.
    expect(body('ECG du jour\nRythme sinusal à 70/min\nPR 160 ms, QRS fins\nPas de trouble de repolarisation\n', [pdf('ECG.pdf')])).toBe('exam-report');
    expect(body('Résumé médical\nAntécédents : HTA\nAllergies : aucune\n', [pdf('VSM_ancien.pdf')])).toBe('summary');
  });

  it('a report written as a letter to the referring doctor is typed by the sentence after the greeting; a letter sending the patient stays a letter', () => {
    const pdf = (filename: string) => ({ filename, contentType: 'application/pdf', content: SMALL_PDF });
    const body = (textBody: string, attachments: ReturnType<typeof pdf>[] = []) =>
      classifyMessage({ input: input({ subject: 'Envoi', textBody, attachments }) }).documents.find((d) => d.part === 'body')!.type;
    // Wordings written for this test, not corpus rows.
    expect(body('Chère Consœur,\nJe vous remercie de m’avoir adressé M. R., que j’ai examiné ce jour pour une gonalgie.\nA l’examen…')).toBe('consultation-report');
    expect(body('Cher ami,\nNous avons revu en consultation de suivi ta patiente, toujours stable.')).toBe('consultation-report');
    expect(body('Madame, Monsieur,\nVotre patiente a été hospitalisée dans le service de médecine interne du 3 au 9 mai.')).toBe('hospital-report');
    // The GP's own letter sending the patient, even when he saw her today: a letter.
    expect(body('Cher confrère,\nJe vous adresse Mme T., que j’ai vue ce jour, pour avis sur un souffle cardiaque.')).toBe('letter');
    expect(body('Bonjour,\nMerci de bien vouloir recevoir mon patient que j’ai examiné hier.')).toBe('letter');
    // A short note beside the report it announces is the covering note; a plain greeting is a letter.
    expect(body('Cher confrère,\nVotre patient a été hospitalisé dans notre service, voici son CRH.', [pdf('CRH.pdf')])).toBe('letter');
    expect(body('Bonjour,\nVoici les documents demandés.')).toBe('letter');
  });

  it('a body without attachments whose first line is a heading of its own is typed by the first title below it', () => {
    const body = (textBody: string) => classifyMessage({ input: input({ subject: 'Envoi', textBody }) }).documents.find((d) => d.part === 'body')!.type;
    expect(body('Cabinet de radiologie du Parc\nIRM du genou droit\nTechnique : séquences T1, DP\n')).toBe('imaging');
    expect(body('Actes réalisés au cours de l’intervention\nCholécystectomie sous coelioscopie\n')).toBe('operative-report');
    // Only the first lines: a word far down a letter does not type it.
    expect(body('Voici les nouvelles de la semaine.\nÀ bientôt.\nAmitiés.\nPaul\n\nPS\nIRM demandée\n')).toBe('letter');
  });

  it('a clinical word outside every phrase list is never "other": read by its form or its specialty', () => {
    const typeOf = (subject: string) => classifyMessage({ input: input({ subject, attachments: [{ filename: 'document.pdf', contentType: 'application/pdf', content: SMALL_PDF }] }) }).documents[0]!.type;
    // Words written for this test, absent from KEYWORD_RULES and from the corpus: surgical acts by their suffix or CCAM verb.
    for (const s of ['Gastrectomie partielle', 'Néphrectomie droite', 'Rhinoplastie', 'Trachéotomie', 'Colostomie de décharge', 'Gastropexie', 'Herniorraphie', 'Exérèse de lipome'] as const) {
      expect(typeOf(s), s).toBe('operative-report');
    }
    // Analytes by their "-émie"/"-urie" name; diseases of the same form are not lab results.
    for (const s of ['Magnésémie', 'Phosphorémie', 'Protéinurie des 24 h', 'Bicarbonatémie'] as const) expect(typeOf(s), s).toBe('biology');
    expect(typeOf('Ischémie aiguë de jambe')).not.toBe('biology');
    // A specialty's name or adjective: a specialist's report.
    for (const s of ['Avis néphrologique', 'Angiologie : suivi', 'CR algologie'] as const) expect(typeOf(s), s).toBe('consultation-report');
    // A date's month is not an OCT: the subject's generic "résultats" decides.
    expect(typeOf('Résultats du 12 oct')).toBe('biology');
    expect(typeOf('OCT maculaire')).toBe('exam-report');
  });

  it('the Outlook sample is a letter (demande d’avis)', async () => {
    const r = await classifyRaw(sample('subject-tag-outlook.eml'));
    expect(r.type).toBe('letter');
  });
});

describe('titleWithoutSubjectTag', () => {
  it.each([
    ['PATIENT: DUPONT Jean 30/01/1959 Résumé médical', 'Résumé médical'],
    ['Résumé médical - PATIENT: DUPONT Jean 30/01/1959', 'Résumé médical'],
    ['ECG - Patient : LE GOFF Anne 01.02.1950 - contrôle', 'ECG - contrôle'],
    ["XDM/1.0/DDM+CR d'examens biologiques", "CR d'examens biologiques"],
    ['PATIENT: DUPONT Jean 30/01/1959', ''],
    ['Courrier', 'Courrier'],
  ])('%s → %s', (subject, title) => {
    expect(titleWithoutSubjectTag(subject)).toBe(title);
  });
});
