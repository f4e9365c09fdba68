/**
 * What an MSSanté mailbox receives from a doctor writing in plain Outlook (issue 28 item 3): the
 * original kept, an IHE_XDM.ZIP added that medgate's own reader reads back (patient, author, codes,
 * hashes), MSSanté's subject convention and X-MSS headers. A message that already has an archive
 * is left as written.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import { classifyMessage } from '../../src/message/classify/index.js';
import { extractPatientIdentity, extractZipEntry, listZipEntries, readXdm } from '../../src/message/identity/index.js';
import { writeXdm } from '../../src/message/identity/xdm-writer.js';
import { parseForExtraction } from '../../src/message/parse.js';
import { parseSubmission } from '../../src/message/parse-submission.js';
import { buildMssanteMessage } from '../../src/smtp/mssante/mssante-message.js';
import type { DirectoryEntry } from '../../src/store/types.js';

const PAUL: DirectoryEntry = {
  address: 'paul.demo@cabinet-antony.medgate.test', mailboxType: 'PER', idType: 'RPPS', idValue: '10100000017', nationalId: '810100000017',
  civility: 'DR', familyName: 'DEMO', givenName: 'Paul', professionCode: '10', professionLabel: 'Médecin', specialtyCode: 'SM54',
  specialtyLabel: 'Médecine générale', organisation: 'Cabinet médical des Plantes', status: 'active', certificatePem: null, pgpPublicKey: null,
  source: 'local', updatedAt: new Date().toISOString(),
} as DirectoryEntry;

/** What sealing learns of a message (the same extraction and classification the seal path runs). */
async function factsOf(raw: Buffer) {
  const input = await parseSubmission(raw);
  const extraction = extractPatientIdentity(input);
  const c = classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, sender: PAUL });
  return { patient: extraction.patient, documentType: c.type, documents: c.documents.map((d) => ({ part: d.part, type: d.type })) };
}

describe('the message an MSSanté mailbox receives', () => {
  it('a subject-tagged letter with a PDF: XDM added (patient, author, type, hash), subject convention, X-MSS headers, original kept', async () => {
    const pdf = Buffer.from('%PDF-1.4\n% compte rendu de radiographie thoracique\n%%EOF\n');
    const raw = await new MailComposer({
      from: `"Dr Paul DEMO" <${PAUL.address}>`, to: 'anne.biologiste@labo-biotest.medgate.test',
      subject: 'PATIENT: DUPONT Jean 30/01/1959 - radiographie thoracique', messageId: '<mss-xdm-1@cabinet-antony.medgate.test>',
      text: 'Chère consœur,\nci-joint le compte rendu.\n', attachments: [{ filename: 'cr-radio.pdf', content: pdf, contentType: 'application/pdf' }],
    }).compile().build();
    const out = await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL });

    const parsed = await parseForExtraction(out);
    expect(parsed.subject).toBe('XDM/1.0/DDM+radiographie thoracique DUPONT Jean 30/01/1959');
    // ECO.2.4.1–2 reserve both for an archive holding CDA documents; medgate's holds the PDF as it came.
    expect(parsed.headers.has('x-mss-ins')).toBe(false);
    expect(parsed.headers.has('x-mss-codecda')).toBe(false);
    expect(parsed.headers.get('message-id')).toBe('<mss-xdm-1@cabinet-antony.medgate.test>');
    expect(parsed.textBody).toContain('ci-joint le compte rendu');
    // The original is the first part, byte for byte.
    expect(out.includes(raw.subarray(raw.indexOf('\r\n\r\n') + 4))).toBe(true);

    const xdm = readXdm(parsed)!;
    expect(xdm.archive).toBe('IHE_XDM.ZIP');
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' }]);
    expect(xdm.entries).toHaveLength(1);
    expect(xdm.entries[0]).toMatchObject({ mimeType: 'application/pdf', title: 'cr-radio.pdf', typeCode: { code: '18748-4' } });
    const zip = parsed.attachments.find((a) => a.filename === 'IHE_XDM.ZIP')!.content;
    const entries = listZipEntries(zip);
    const metadata = extractZipEntry(zip, entries.find((e) => e.name.endsWith('METADATA.XML'))!).toString('utf8');
    expect(metadata).toContain(`<rim:Value>${createHash('sha1').update(pdf).digest('hex')}</rim:Value>`);
    expect(metadata).toContain(`<rim:Value>${pdf.length}</rim:Value>`);
    expect(metadata).toContain('810100000017^DEMO^Paul^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^IDNPS');
    expect(metadata).toContain('SM54^Médecine générale');
    // And extraction on the result takes the patient from the XDM now.
    expect(extractPatientIdentity(parsed).patient).toMatchObject({ source: 'xdm', familyName: 'DUPONT' });
  });

  it('a text-only letter becomes one text/plain document entry; an INS known goes into the metadata (not into X-MSS-INS, which is for CDA content)', async () => {
    const raw = Buffer.from(fs.readFileSync(path.join(import.meta.dirname, '..', 'e2e', 'fixtures', 'subject-tag-outlook.eml')));
    const facts = await factsOf(raw);
    const withIns = { ...facts, patient: { ...facts.patient!, ins: { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' as const } } };
    const out = await buildMssanteMessage({ raw, facts: withIns, sender: PAUL });
    const parsed = await parseForExtraction(out);
    expect(parsed.headers.has('x-mss-ins')).toBe(false);
    expect(parsed.subject).toMatch(/^XDM\/1\.0\/DDM\+demande d'avis cardiologique DUPONT Jean 30\/01\/1959$/);
    const xdm = readXdm(parsed)!;
    expect(xdm.entries).toEqual([expect.objectContaining({ mimeType: 'text/plain', uri: 'DOC0001.TXT' })]);
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30', ins: { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' } }]);
  });

  it('a message that already carries IHE_XDM.ZIP goes as written, byte for byte', async () => {
    const zip = writeXdm({ patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' }, author: PAUL,
      documents: [{ fileName: 'a.txt', mimeType: 'text/plain', content: Buffer.from('x'), type: 'letter' }] }).zip;
    const raw = await new MailComposer({ from: PAUL.address, to: 'x@labo-biotest.medgate.test', subject: 'Courrier', text: 'x',
      attachments: [{ filename: 'IHE_XDM.ZIP', content: zip, contentType: 'application/zip' }] }).compile().build();
    const out = await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL });
    expect(out).toEqual(raw);
  });

  it('without an identified patient the message goes as written', async () => {
    const raw = Buffer.from(`From: ${PAUL.address}\r\nTo: x@labo-biotest.medgate.test\r\nSubject: bonjour\r\n\r\nbonjour\r\n`);
    expect(await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL })).toEqual(raw);
  });
});
