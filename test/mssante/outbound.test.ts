/**
 * Outbound to MSSanté (issue 28 item 2): a doctor writes to a lab biologist who is in the directory
 * on a whitelisted domain with no key. With `mssante.outbound: allow` the biologist's operator
 * (a real Postfix) receives plain MIME over mutual TLS; a local colleague on the same message gets
 * the sealed copy; the doctor's Sent copy says who got transport security only; the doctor gets the
 * success DSN he asked for; nothing is in clear in the data directory. With `deny` the recipient is
 * refused at RCPT TO with the policy named.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractPatientIdentity, extractZipEntry, listZipEntries, readXdm } from '../../src/message/identity/index.js';
import { parseForExtraction } from '../../src/message/parse.js';
import { postfixAvailability } from '../helpers/postfix.js';
import { createTestDatabase, testPostgres } from '../helpers/postgres.js';
import { ANNE, JL, MARC, PASSWORD, PAUL, PRODUCT_REFERENCE, grepDir, readMailbox, setupMssante, submitter, waitFor, type MssanteSetup } from './fixture.js';

/**
 * What Python's standard library reads in a message Postfix delivered: its Subject and X-MSS-* fields
 * (email), the IHE_XDM.ZIP part (zipfile: every member's CRC checked), each METADATA.XML entry
 * (ElementTree): hash and size against the member, type and class codes, patient PID-5/PID-7, and the
 * document its CDA carries (nonXMLBody decoded, SHA-1).
 */
function pythonReadsDelivered(delivered: Buffer, tmpRoot: string): unknown {
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'py-'));
  const file = path.join(dir, 'delivered.eml');
  fs.writeFileSync(file, delivered);
  const script = `
import base64, email, hashlib, io, json, sys, zipfile, xml.etree.ElementTree as ET
from email import policy
RIM = '{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}'
V3 = '{urn:hl7-org:v3}'
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
zips = [p for p in msg.walk() if p.get_filename() == 'IHE_XDM.ZIP']
assert len(zips) == 1, 'one IHE_XDM.ZIP part'
z = zipfile.ZipFile(io.BytesIO(zips[0].get_content()))
assert z.testzip() is None
root = ET.fromstring(z.read('IHE_XDM/SUBSET01/METADATA.XML'))
entries = []
for eo in root.iter(RIM + 'ExtrinsicObject'):
    slots = {s.get('name'): [v.text for v in s.iter(RIM + 'Value')] for s in eo.findall(RIM + 'Slot')}
    data = z.read('IHE_XDM/SUBSET01/' + slots['URI'][0])
    def code(scheme):
        return [c.get('nodeRepresentation') for c in eo.findall(RIM + 'Classification') if c.get('classificationScheme') == scheme][0]
    cda = ET.fromstring(data)
    text = cda.find(V3 + 'component/' + V3 + 'nonXMLBody/' + V3 + 'text')
    entries.append({'uri': slots['URI'][0], 'mimeType': eo.get('mimeType'),
        'hashOk': hashlib.sha1(data).hexdigest() == slots['hash'][0], 'sizeOk': str(len(data)) == slots['size'][0],
        'type': code('urn:uuid:f0306f51-975f-434e-a61c-c59651d33983'), 'class': code('urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a'),
        'pid5': [v for v in slots['sourcePatientInfo'] if v.startswith('PID-5')], 'pid7': [v for v in slots['sourcePatientInfo'] if v.startswith('PID-7')],
        'cdaCode': cda.find(V3 + 'code').get('code'), 'body': [text.get('mediaType'), hashlib.sha1(base64.b64decode(text.text)).hexdigest()]})
print(json.dumps({'subject': str(msg['Subject']), 'codecda': msg['X-MSS-CODECDA'], 'ins': msg['X-MSS-INS'], 'entries': entries}))
`;
  try {
    return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Crash safety of mixed submissions (keyed + MSSanté recipients), with kill -9:
 * - copies already acknowledged and waiting in the queue (the operator is down) are sent once each
 *   after the restart;
 * - a submission cut by a crash between its copies (the keyed recipients' written, the MSSanté one
 *   not yet) commits neither, and the client's resend reaches each recipient once.
 */
async function crashSafety(s: MssanteSetup): Promise<void> {
  const stamp = Date.now();
  const message = (marker: string): string => `From: ${PAUL}\r\nTo: ${ANNE}, ${JL}\r\nSubject: envoi ${marker}\r\n`
    + `Message-ID: <${marker}@cabinet-antony.medgate.test>\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${marker}\r\n`;
  const queued = [1, 2, 3].map((n) => `queued-${n}-${stamp}`);
  const cut = `cut-${stamp}`;
  const copies = async (user: string, mailbox: string, marker: string): Promise<number> => (await readMailbox(s, user, mailbox)).filter((m) => m.includes(marker)).length;
  const atPostfix = (marker: string): number => s.postfix.delivered('anne.biologiste').filter((m) => m.includes(marker)).length;

  s.postfix.pause(); // the operator is down: the MSSanté copies wait in the queue, retried
  try {
    for (const marker of queued) expect((await submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE, JL] }, raw: message(marker) })).response).toMatch(/^250 /);
    await waitFor(async () => ((await s.cli('queue', 'list')).stdout.match(/last error: /g)?.length ?? 0) >= queued.length, 30_000, 'failed attempts while the operator is down');
    // kill -9 with those copies queued; the next process kills itself once a submission's keyed copy
    // is written and before its MSSanté copy (crash point), so that submission gets no 250.
    await s.serveAgain({ MEDGATE_TEST_CRASH_AT: 'delivery:between-copies' });
    await expect(submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE, JL] }, raw: message(cut) })).rejects.toThrow();
  } finally {
    await s.postfix.resume();
    await s.serveAgain();
  }
  // Nothing of the cut submission: not in JL's INBOX, not in Sent (and so nothing queued for Anne).
  expect(await copies(JL, 'INBOX', cut)).toBe(0);
  expect(await copies(PAUL, 'Sent', cut)).toBe(0);
  // The client sends it again, as a client does without a 250.
  expect((await submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE, JL] }, raw: message(cut) })).response).toMatch(/^250 /);
  const all = [...queued, cut];
  await waitFor(() => all.every((m) => atPostfix(m) > 0), 30_000, `delivery after the restart\n${s.postfix.log()}`);
  await new Promise((r) => setTimeout(r, 1500));
  expect(all.map(atPostfix)).toEqual([1, 1, 1, 1]);
  const jl = await readMailbox(s, JL, 'INBOX');
  expect(all.map((m) => jl.filter((x) => x.includes(m)).length)).toEqual([1, 1, 1, 1]);
  const sent = await readMailbox(s, PAUL, 'Sent');
  expect(all.map((m) => sent.filter((x) => x.includes(m)).length)).toEqual([1, 1, 1, 1]);
}

/** An MSSanté recipient in Bcc: delivered through Postfix, and the medgate colleague's copy counts it without naming it. */
async function bccStaysBlind(s: MssanteSetup): Promise<void> {
  const marker = `bcc-${Date.now()}`;
  await submitter(s).sendMail({
    envelope: { from: PAUL, to: [ANNE, JL] },
    raw: `From: Paul Demo <${PAUL}>\r\nTo: ${JL}\r\nSubject: copie cachee\r\nMessage-ID: <${marker}@cabinet-antony.medgate.test>\r\n`
      + `Date: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${marker}\r\n`,
  });
  await waitFor(() => s.postfix.delivered('anne.biologiste').find((m) => m.includes(marker)), 30_000, `delivery to Postfix\n${s.postfix.log()}`);
  const jl = await waitFor(async () => (await readMailbox(s, JL, 'INBOX')).find((m) => m.includes(marker)), 30_000, 'the sealed copy for JL');
  expect(jl).not.toContain(ANNE);
  expect(jl).toMatch(/X-Medgate-Transport-Only: 1 undisclosed recipient;\s+MSSante: plain MIME over mutual TLS/);
}

/**
 * One message to an MSSanté recipient (Postfix) and a medgate colleague: plain MIME over verified
 * mutual TLS to the first, sealed to the second, each once; the Sent copy names the first; the
 * success DSN comes; nothing in clear in the data directory.
 */
async function mixedRecipients(s: MssanteSetup): Promise<void> {
  const marker = `Kaliemie-${Date.now()}-a-surveiller`;
  const info = await submitter(s).sendMail({
    envelope: { from: PAUL, to: [ANNE, JL] },
    ...{ dsn: { notify: ['SUCCESS', 'FAILURE'], recipient: PAUL } }, // nodemailer's types lack `dsn`
    raw: `From: Paul Demo <${PAUL}>\r\nTo: ${ANNE}, ${JL}\r\nSubject: Bilan de controle\r\nMessage-ID: <mss-out-1@${'cabinet-antony.medgate.test'}>\r\n`
      + `Date: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour,\r\n${marker}\r\n`,
  });
  expect(info.accepted).toEqual(expect.arrayContaining([ANNE, JL]));

  const delivered = await waitFor(() => s.postfix.delivered('anne.biologiste')[0], 30_000, `delivery to Postfix\n${s.postfix.log()}`);
  const text = delivered.toString('utf8');
  // Plain MIME: the operator reads it as written.
  expect(text).toContain(marker);
  expect(text).toContain('Message-ID: <mss-out-1@cabinet-antony.medgate.test>');
  expect(text).not.toContain('multipart/encrypted');
  // Postfix verified medgate's client certificate (its Received header and its log).
  expect(text).toMatch(/\(Client CN "localhost", Issuer "[^"]+" \(verified OK\)\)/);
  expect(s.postfix.log()).toMatch(/Trusted TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23]/);

  // The medgate colleague: the sealed copy, decrypted for him by IMAP.
  const jl = await waitFor(async () => (await readMailbox(s, JL, 'INBOX')).find((m) => m.includes(marker)), 30_000, 'the sealed copy for JL');
  expect(jl).toContain('Subject: Bilan de controle');
  // The Sent copy names who got transport security only.
  const sent = (await readMailbox(s, PAUL, 'Sent')).find((m) => m.includes(marker));
  expect(sent).toMatch(new RegExp(`X-Medgate-Transport-Only: ${ANNE.replace(/\./g, '\\.')};\\s+MSSante: plain MIME over mutual TLS`));
  // The success DSN for the MSSanté recipient.
  const dsn = await waitFor(async () => (await readMailbox(s, PAUL, 'INBOX')).find((m) => /Action: delivered/i.test(m) && m.includes(ANNE)), 30_000, 'the success DSN');
  expect(dsn).toMatch(/Status: 2\.\d\.\d/);
  // Once: one file at Postfix, one message in JL's INBOX.
  await new Promise((r) => setTimeout(r, 1500));
  expect(s.postfix.delivered('anne.biologiste').filter((m) => m.includes(marker))).toHaveLength(1);
  expect((await readMailbox(s, JL, 'INBOX')).filter((m) => m.includes(marker))).toHaveLength(1);
  // Nothing in clear at rest: not in the store, the blobs, the spool.
  expect(await s.atRest(marker)).toEqual([]);
}

describe.skipIf(!postfixAvailability())('outbound to an MSSanté mailbox without a key', () => {
  let s: MssanteSetup;
  beforeAll(async () => { s = await setupMssante('allow'); }, 180_000);
  afterAll(async () => { await s?.cleanup(); });

  it('sends plain MIME over mutual TLS to the MSSanté recipient and seals for the medgate one, each once', () => mixedRecipients(s), 120_000);

  it('an MSSanté recipient in Bcc stays blind: the medgate colleague\'s copy counts it, never names it', () => bccStaysBlind(s), 120_000);

  it('the doctor\'s client APPENDs what it sent to Sent: one copy, the gateway\'s, with the transport-only notice', async () => {
    // As Thunderbird or Outlook do: nodemailer submits, imapflow APPENDs the same bytes to Sent
    // (test/imap/sent-copy.test.ts). The gateway's Sent copy starts with the notice, the client's does not.
    const id = `sent-dedup-${Date.now()}`;
    const raw = await new MailComposer({
      from: `"Dr Paul DEMO" <${PAUL}>`, to: ANNE, subject: 'Demande de bilan', messageId: `<${id}@cabinet-antony.medgate.test>`,
      date: new Date(), text: 'Chère consœur,\n\nmerci pour le bilan.\n',
    }).compile().build();
    await submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE] }, raw });
    const c = new ImapFlow({
      host: '127.0.0.1', port: s.serve!.ports.imapTls!, secure: true, logger: false,
      tls: { ca: s.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PASSWORD },
    });
    await c.connect();
    try {
      const copies = async (): Promise<Array<{ uid: number; source: string }>> => {
        const lock = await c.getMailboxLock('Sent');
        try {
          const out: Array<{ uid: number; source: string }> = [];
          for await (const m of c.fetch('1:*', { uid: true, source: true })) out.push({ uid: m.uid, source: m.source!.toString('utf8') });
          return out.filter((m) => m.source.includes(`<${id}@`));
        } finally { lock.release(); }
      };
      const before = await copies();
      expect(before).toHaveLength(1);
      expect(before[0]!.source).toMatch(/X-Medgate-Transport-Only: anne\.biologiste@/);
      const res = await c.append('Sent', raw, ['\\Seen']);
      expect(res && res.uid).toBe(before[0]!.uid);
      expect((await copies()).map((m) => m.uid)).toEqual([before[0]!.uid]);
    } finally {
      await c.logout();
    }
  }, 120_000);

  it('a doctor\'s letter naming the patient reaches the Postfix mailbox as plain MIME with the X-MSS headers and an IHE_XDM.ZIP of CDA documents that parses, each body the original bytes; the doctor gets the success DSN', async () => {
    const pdf = Buffer.from(`%PDF-1.4\n% demande de bilan ${Date.now()}\n%%EOF\n`);
    const raw = await new MailComposer({
      from: `"Dr Paul DEMO" <${PAUL}>`, to: ANNE, messageId: '<mss-out-xdm@cabinet-antony.medgate.test>',
      subject: 'PATIENT: DUPONT Jean 30/01/1959 - demande de bilan biologique',
      text: 'Chère consœur, merci de réaliser le bilan ci-joint.\n', attachments: [{ filename: 'ordonnance-bilan.pdf', content: pdf, contentType: 'application/pdf' }],
    }).compile().build();
    const successReports = (inbox: string[]): number => inbox.filter((m) => /Action: delivered/i.test(m) && m.includes(ANNE)).length;
    const dsnBefore = successReports(await readMailbox(s, PAUL, 'INBOX'));
    await submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE] }, ...{ dsn: { notify: ['SUCCESS'], recipient: PAUL } }, raw });

    const delivered = await waitFor(() => s.postfix.delivered('anne.biologiste').find((m) => m.includes('mss-out-xdm@')), 30_000, `delivery to Postfix\n${s.postfix.log()}`);
    const parsed = await parseForExtraction(delivered);
    expect(parsed.subject).toBe('XDM/1.0/DDM+demande de bilan biologique DUPONT Jean 30/01/1959');
    const xdm = readXdm(parsed)!;
    expect(xdm.patients).toEqual([{ source: 'xdm', familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' }]);
    // The PDF went into the archive wrapped in a CDA R2 N1 document, whose code the headers carry
    // (ECO.2.4.1), with X-MSS-INS N (no INS: ECO.2.4.2) and the configured product reference (ECO.2.4.3),
    // spelled as the Référentiel spells them, in the file Postfix delivered.
    expect(xdm.entries).toEqual([expect.objectContaining({ mimeType: 'text/xml', uri: 'DOC0001.XML', title: 'ordonnance-bilan.pdf', typeCode: expect.objectContaining({ code: '57833-6' }) })]);
    const head = delivered.toString('latin1').slice(0, delivered.indexOf('\n\n'));
    expect(head.match(/^X-MSS-[A-Z]+: .*$/gm)).toEqual(['X-MSS-CODECDA: 57833-6', 'X-MSS-INS: N', `X-MSS-NIL: ${PRODUCT_REFERENCE}`]);
    const zip = parsed.attachments.find((a) => a.filename === 'IHE_XDM.ZIP')!.content;
    const cda = extractZipEntry(zip, listZipEntries(zip).find((e) => e.name === 'IHE_XDM/SUBSET01/DOC0001.XML')!).toString('utf8');
    expect(cda).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\s*<ClinicalDocument xmlns="urn:hl7-org:v3">/);
    expect(cda).toContain('<code code="57833-6" displayName="Prescription de produits de santé" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"/>');
    expect(Buffer.from(/<text mediaType="application\/pdf" representation="B64">([^<]+)<\/text>/.exec(cda)![1]!, 'base64')).toEqual(pdf);
    expect(extractPatientIdentity(parsed).patient).toMatchObject({ source: 'xdm', familyName: 'DUPONT' });
    expect(parsed.attachments.find((a) => a.filename === 'ordonnance-bilan.pdf')?.content).toEqual(pdf);
    // And by readers nobody here wrote: Python's email parser takes the file Postfix delivered apart,
    // zipfile opens its IHE_XDM.ZIP, ElementTree reads METADATA.XML and the CDA.
    const independent = pythonReadsDelivered(delivered, s.root);
    expect(independent).toEqual({
      subject: 'XDM/1.0/DDM+demande de bilan biologique DUPONT Jean 30/01/1959', codecda: '57833-6', ins: 'N',
      entries: [{ uri: 'DOC0001.XML', mimeType: 'text/xml', hashOk: true, sizeOk: true, type: '57833-6', class: '42',
        pid5: ['PID-5|DUPONT^Jean^^^^^L'], pid7: ['PID-7|19590130'], cdaCode: '57833-6', body: ['application/pdf', createHash('sha1').update(pdf).digest('hex')] }],
    });
    // Verified mutual TLS, as Postfix recorded it in the delivered file.
    expect(delivered.toString('latin1')).toMatch(/\(Client CN "localhost", Issuer "[^"]+" \(verified OK\)\)/);
    // The report names the recipient and quotes the sealed copy's headers (never the clear ones).
    await waitFor(async () => successReports(await readMailbox(s, PAUL, 'INBOX')) > dsnBefore, 30_000, 'the success DSN');
    // The patient's name is in the subject the operator receives, never in medgate's data directory.
    expect(grepDir(path.join(s.dir, 'data'), 'demande de bilan')).toEqual([]);
    expect(grepDir(path.join(s.dir, 'data'), pdf.toString('latin1').split('\n')[1]!)).toEqual([]);
  }, 120_000);

  it('a message above 1 MiB (spooled to a file at submission) goes out whole, and not in clear at rest', async () => {
    const marker = `Gros-${Date.now()}-bilan`;
    const body = `${'y'.repeat(76)}\r\n`.repeat(20_000); // 1.5 MB
    await submitter(s).sendMail({
      envelope: { from: PAUL, to: [ANNE] },
      raw: `From: ${PAUL}\r\nTo: ${ANNE}\r\nSubject: gros\r\nMessage-ID: <mss-large@cabinet-antony.medgate.test>\r\n\r\n${marker}\r\n${body}`,
    });
    const delivered = await waitFor(() => s.postfix.delivered('anne.biologiste').find((m) => m.includes('mss-large@')), 60_000, `delivery to Postfix\n${s.postfix.log()}`);
    expect(delivered.includes(marker)).toBe(true);
    // Every line arrived (Postfix's Maildir writes LF line ends).
    expect(delivered.toString('latin1').split(`${'y'.repeat(76)}\n`).length - 1).toBe(20_000);
    expect(await s.atRest(marker)).toEqual([]);
  }, 120_000);

  it('kill -9: MSSanté copies waiting in the queue go once each after the restart; a submission cut between its copies commits neither, and its resend reaches each recipient once', () => crashSafety(s), 150_000);

  it('an operator whose certificate does not name the recipient\'s domain gets nothing: the message waits in the queue with the reason', async () => {
    await submitter(s).sendMail({
      envelope: { from: PAUL, to: [MARC] },
      raw: `From: ${PAUL}\r\nTo: ${MARC}\r\nSubject: mauvais operateur\r\nMessage-ID: <mss-wrong-domain@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    const list = await waitFor(async () => {
      const out = (await s.cli('queue', 'list')).stdout;
      return /last error: .*does not name imagerie-bourg\.medgate\.test/.test(out) ? out : undefined;
    }, 30_000, 'a delivery attempt refused for the certificate\'s domain');
    expect(list).toMatch(new RegExp(`${MARC.replace(/\./g, '\\.')}\\s+pending`));
    expect(s.postfix.log()).not.toMatch(/marc\.radio/);
  }, 90_000);

  it('once medgate\'s own certificate is revoked at the operator (Postfix\'s refused-fingerprint list), Postfix refuses it and the doctor gets a failure report with the operator\'s reason', async () => {
    // Postfix reads no CRL: its operator lists revoked client certificates by fingerprint (docs/smtp.md).
    const ours = new X509Certificate(fs.readFileSync(path.join(s.dir, 'data', 'tls', 'gateway.crt.pem')));
    s.postfix.revokeClientFingerprint(ours.fingerprint256);
    const id = `mss-ours-revoked-${Date.now()}`;
    const before = s.postfix.delivered('anne.biologiste').length;
    const failures = async (): Promise<string[]> => (await readMailbox(s, PAUL, 'INBOX')).filter((m) => /Action: failed/i.test(m) && m.includes(ANNE));
    const failuresBefore = (await failures()).length;
    await submitter(s).sendMail({
      envelope: { from: PAUL, to: [ANNE] }, ...{ dsn: { notify: ['FAILURE'], recipient: PAUL } },
      raw: `From: ${PAUL}\r\nTo: ${ANNE}\r\nSubject: certificat revoque\r\nMessage-ID: <${id}@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    // Postfix saw medgate's certificate (verified: it chains to the CA) and refused it at RCPT.
    await waitFor(() => /NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 554 5\.7\.1 .*client certificate revoked/.test(s.postfix.log()), 30_000, `Postfix's refusal\n${s.postfix.log()}`);
    const report = await waitFor(async () => (await failures())[failuresBefore], 30_000, 'the failure report');
    expect(report).toMatch(new RegExp(`Final-Recipient: rfc822; ?${ANNE.replace(/\./g, '\\.')}`, 'i'));
    expect(report).toMatch(/Status: 5\.7\.1/);
    expect(report).toMatch(/Diagnostic-Code: smtp; ?554 5\.7\.1 .*client certificate revoked/i);
    expect(s.postfix.delivered('anne.biologiste')).toHaveLength(before);
    const list = (await s.cli('queue', 'list')).stdout;
    expect(list).toMatch(new RegExp(`${ANNE.replace(/\./g, '\\.')}\\s+failed`));
  }, 90_000);

  it('once Postfix\'s certificate is revoked, nothing more reaches it: the message waits in the queue with the reason', async () => {
    const revoked = await s.cli('pki', 'revoke', s.postfix.serial);
    expect(revoked.code, revoked.stderr).toBe(0);
    const before = s.postfix.delivered('anne.biologiste').length;
    const info = await submitter(s).sendMail({
      envelope: { from: PAUL, to: [ANNE] },
      raw: `From: ${PAUL}\r\nTo: ${ANNE}\r\nSubject: apres revocation\r\nMessage-ID: <mss-revoked@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    expect(info.response).toMatch(/^250 /);
    const list = await waitFor(async () => {
      const out = (await s.cli('queue', 'list')).stdout;
      return /last error: .*revoked/.test(out) ? out : undefined;
    }, 30_000, 'a delivery attempt refused for revocation');
    expect(list).toMatch(new RegExp(`${ANNE.replace(/\./g, '\\.')}\\s+pending`));
    expect(s.postfix.delivered('anne.biologiste')).toHaveLength(before);
  }, 90_000);

  it('refuses a client-encrypted message to an MSSanté recipient, naming it', async () => {
    await expect(submitter(s).sendMail({
      envelope: { from: PAUL, to: [ANNE] },
      raw: `From: ${PAUL}\r\nTo: ${ANNE}\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nx\r\n-----END PGP MESSAGE-----\r\n--b--\r\n`,
    })).rejects.toMatchObject({ responseCode: 554, response: expect.stringContaining(ANNE) });
  }, 60_000);

  it('with mssante.outbound: deny, refuses the recipient at RCPT TO and names the policy', async () => {
    await s.restart('deny');
    await expect(submitter(s).sendMail({ envelope: { from: PAUL, to: [ANNE] }, raw: `From: ${PAUL}\r\nTo: ${ANNE}\r\nSubject: x\r\n\r\nx\r\n` }))
      .rejects.toMatchObject({ responseCode: 550, response: expect.stringMatching(/mssante\.outbound: deny/) });
  }, 120_000);
});

describe.skipIf(!postfixAvailability() || !testPostgres())('outbound to an MSSanté mailbox without a key, on PostgreSQL', () => {
  let s: MssanteSetup;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('mssante');
    s = await setupMssante('allow', { postgresUrl: db.url });
  }, 180_000);
  afterAll(async () => { await s?.cleanup(); await db?.drop(); });

  it('sends plain MIME over mutual TLS to the MSSanté recipient and seals for the medgate one, each once', () => mixedRecipients(s), 120_000);

  it('an MSSanté recipient in Bcc stays blind: the medgate colleague\'s copy counts it, never names it', () => bccStaysBlind(s), 120_000);

  it('kill -9: MSSanté copies waiting in the queue go once each after the restart; a submission cut between its copies commits neither, and its resend reaches each recipient once', () => crashSafety(s), 150_000);
});
