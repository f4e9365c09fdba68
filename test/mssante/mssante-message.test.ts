/**
 * What an MSSanté mailbox receives from a doctor writing in plain Outlook (issue 28 item 3): the
 * original kept, an IHE_XDM.ZIP added that medgate's own reader reads back (patient, author, codes,
 * hashes), its documents wrapped in CDA R2 N1, MSSanté's subject convention and the X-MSS headers
 * (X-MSS-CODECDA, X-MSS-INS, X-MSS-NIL when configured). A message that already has an archive is
 * left as written.
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
const GATEWAY = { domain: 'cabinet-antony.medgate.test' };

/** The document a CDA file of the archive wraps (its nonXMLBody, base64). */
function cdaBody(xml: string): Buffer {
  return Buffer.from(/<text mediaType="[^"]+" representation="B64">([^<]+)<\/text>/.exec(xml)![1]!, 'base64');
}

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
    const out = await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL, gateway: GATEWAY });

    const parsed = await parseForExtraction(out);
    expect(parsed.subject).toBe('XDM/1.0/DDM+radiographie thoracique DUPONT Jean 30/01/1959');
    // The archive holds the PDF wrapped in a CDA: ECO.2.4.1 (its code) and ECO.2.4.2 (no INS: N).
    expect(parsed.headers.get('x-mss-codecda')).toBe('18748-4');
    expect(parsed.headers.get('x-mss-ins')).toBe('N');
    expect(parsed.headers.has('x-mss-nil')).toBe(false); // no mssante.productReference configured
    expect(parsed.headers.get('message-id')).toBe('<mss-xdm-1@cabinet-antony.medgate.test>');
    expect(parsed.textBody).toContain('ci-joint le compte rendu');
    // The original is the first part, byte for byte.
    expect(out.includes(raw.subarray(raw.indexOf('\r\n\r\n') + 4))).toBe(true);

    const xdm = readXdm(parsed)!;
    expect(xdm.archive).toBe('IHE_XDM.ZIP');
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' }]);
    expect(xdm.entries).toHaveLength(1);
    expect(xdm.entries[0]).toMatchObject({ mimeType: 'text/xml', title: 'cr-radio.pdf', typeCode: { code: '18748-4' }, cda: { code: { code: '18748-4' }, nonXmlMediaType: 'application/pdf' } });
    const zip = parsed.attachments.find((a) => a.filename === 'IHE_XDM.ZIP')!.content;
    const entries = listZipEntries(zip);
    const metadata = extractZipEntry(zip, entries.find((e) => e.name.endsWith('METADATA.XML'))!).toString('utf8');
    const cda = extractZipEntry(zip, entries.find((e) => e.name.endsWith('DOC0001.XML'))!);
    expect(cdaBody(cda.toString('utf8'))).toEqual(pdf);
    expect(metadata).toContain(`<rim:Value>${createHash('sha1').update(cda).digest('hex')}</rim:Value>`);
    expect(metadata).toContain(`<rim:Value>${cda.length}</rim:Value>`);
    expect(cda.toString('utf8')).toContain('<name>Cabinet médical des Plantes</name>'); // the custodian
    expect(metadata).toContain('810100000017^DEMO^Paul^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO^D^^^IDNPS');
    expect(metadata).toContain('<rim:Value>G15_10/SM54^Médecin - Médecine générale^1.2.250.1.213.1.1.4.5</rim:Value>'); // JDV_J01
    // And extraction on the result takes the patient from the XDM now.
    expect(extractPatientIdentity(parsed).patient).toMatchObject({ source: 'xdm', familyName: 'DUPONT' });
  });

  it('a text-only letter becomes one CDA of a text/plain body; an INS with the traits (sex included) is X-MSS-INS: O, X-MSS-NIL is the configured product reference', async () => {
    const raw = Buffer.from(fs.readFileSync(path.join(import.meta.dirname, '..', 'e2e', 'fixtures', 'subject-tag-outlook.eml')));
    const facts = await factsOf(raw);
    const ins = { value: '161037512345653', oid: '1.2.250.1.213.1.4.10', kind: 'test' as const };
    // A sender's own X-MSS-* fields described another message: not carried over.
    const withOwnFields = Buffer.concat([Buffer.from('X-MSS-CODECDA: 11111-1\r\nX-MSS-NIL: NOT-MEDGATE\r\n'), raw]);
    const withIns = { ...facts, patient: { ...facts.patient!, sex: 'M' as const, ins } };
    const out = await buildMssanteMessage({ raw: withOwnFields, facts: withIns, sender: PAUL, gateway: { ...GATEWAY, productReference: 'DEV935997' } });
    const parsed = await parseForExtraction(out);
    expect(parsed.headers.get('x-mss-ins')).toBe('O');
    expect(out.toString('utf8').match(/^X-MSS-[A-Z]+: .*$/gm)).toEqual(['X-MSS-CODECDA: 96349-6', 'X-MSS-INS: O', 'X-MSS-NIL: DEV935997']);
    expect(parsed.subject).toMatch(/^XDM\/1\.0\/DDM\+demande d'avis cardiologique DUPONT Jean 30\/01\/1959$/);
    const xdm = readXdm(parsed)!;
    // The text's entry and CDA are titled with the subject's label, without the patient tag.
    expect(xdm.entries).toEqual([expect.objectContaining({ mimeType: 'text/xml', uri: 'DOC0001.XML', title: "demande d'avis cardiologique",
      cda: expect.objectContaining({ title: "demande d'avis cardiologique", nonXmlMediaType: 'text/plain' }) })]);
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30', sex: 'M', ins }]);
    // The same INS without the sex: not the qualified identity's traits, so N.
    const noSex = { ...facts, patient: { ...facts.patient!, ins } };
    delete noSex.patient.sex;
    const outNoSex = await parseForExtraction(await buildMssanteMessage({ raw, facts: noSex, sender: PAUL, gateway: GATEWAY }));
    expect(outNoSex.headers.get('x-mss-ins')).toBe('N');
  });

  it('a message that already carries IHE_XDM.ZIP goes as written, byte for byte', async () => {
    const zip = writeXdm({ patient: { familyName: 'MARTIN', givenName: 'Lucie', birthDate: '1985-03-07' }, author: PAUL,
      documents: [{ fileName: 'a.txt', mimeType: 'text/plain', content: Buffer.from('x'), type: 'letter' }] }).zip;
    const raw = await new MailComposer({ from: PAUL.address, to: 'x@labo-biotest.medgate.test', subject: 'Courrier', text: 'x',
      attachments: [{ filename: 'IHE_XDM.ZIP', content: zip, contentType: 'application/zip' }] }).compile().build();
    const out = await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL, gateway: GATEWAY });
    expect(out).toEqual(raw);
    // With a product reference configured, X-MSS-NIL on top, the rest byte for byte.
    const withNil = await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL, gateway: { ...GATEWAY, productReference: 'DEV935997' } });
    expect(withNil).toEqual(Buffer.concat([Buffer.from('X-MSS-NIL: DEV935997\r\n'), raw]));
  });

  it('without an identified patient the message goes as written', async () => {
    const raw = Buffer.from(`From: ${PAUL.address}\r\nTo: x@labo-biotest.medgate.test\r\nSubject: bonjour\r\n\r\nbonjour\r\n`);
    expect(await buildMssanteMessage({ raw, facts: await factsOf(raw), sender: PAUL, gateway: GATEWAY })).toEqual(raw);
  });
});
