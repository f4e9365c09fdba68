/**
 * Integration receipts to an MSSanté sender (issue 28 item 4). A lab's software asks its operator
 * (a real Postfix) for a receipt (`Disposition-Notification-To`); Postfix relays the message into
 * medgate over mutual TLS; the record server's gateway files it, or refuses it, and the receipt goes
 * back to the lab's Postfix mailbox as plain MIME over mutual TLS, in the ANS format (CI-SIS volet
 * "Transmission d'un document CDA par courriel MSSanté", Structure du message MDN). Python's email
 * package is the independent reader of the report.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestCa } from '../../src/pki/index.js';
import { SAMPLES } from '../helpers/gateway.js';
import { postfixAvailability } from '../helpers/postfix.js';
import { createTestDatabase, testPostgres } from '../helpers/postgres.js';
import { ANNE, DOMAIN, LAB_DOMAIN, PASSWORD, PRODUCT_REFERENCE, setupMssante, waitFor, type MssanteSetup } from './fixture.js';

const RMP = `rmp@${DOMAIN}`;

interface Parsed {
  type: string;
  reportType: string | null;
  parts: string[];
  fields: Record<string, string>;
  rfc822Headers: string;
  human: string;
  subject: string;
  from: string;
  returnPath: string | null;
  inReplyTo: string | null;
}

function pythonParse(source: Buffer, dir: string): Parsed {
  const file = path.join(dir, `mdn-${Date.now()}-${Math.random().toString(36).slice(2)}.eml`);
  fs.writeFileSync(file, source);
  const script = `
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
parts = [p.get_content_type() for p in m.iter_parts()]
fields, headers, human = {}, '', ''
for p in m.iter_parts():
    t = p.get_content_type()
    if t == 'message/disposition-notification':
        inner = p.get_payload()
        blocks = inner if isinstance(inner, list) else [email.message_from_string(inner)]
        for b in blocks:
            for k, v in b.items():
                fields[k] = str(v)
    elif t == 'text/rfc822-headers':
        headers = p.get_payload(decode=True).decode('ascii')
    elif t == 'text/plain':
        human = p.get_content()
print(json.dumps({'type': m.get_content_type(), 'reportType': m.get_param('report-type'), 'parts': parts, 'fields': fields,
  'rfc822Headers': headers, 'human': human, 'subject': str(m['subject']), 'from': str(m['from']),
  'returnPath': m['return-path'] and str(m['return-path']), 'inReplyTo': m['in-reply-to'] and str(m['in-reply-to'])}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Parsed;
}

/** The lab's software submitting to its own operator (Postfix), which relays to medgate. */
async function labSoftware(s: MssanteSetup): Promise<nodemailer.Transporter> {
  const ca = await loadTestCa(path.join(s.dir, 'certs'));
  const lgc = await ca.issue({ profile: 'gateway', commonName: `lgc.${LAB_DOMAIN}`, dnsNames: [LAB_DOMAIN] });
  return nodemailer.createTransport({
    host: '127.0.0.1', port: s.postfix.port, secure: false, requireTLS: true, name: `lgc.${LAB_DOMAIN}`,
    tls: { ca: s.caPem, servername: LAB_DOMAIN, cert: lgc.certPem, key: lgc.keyPem },
  });
}

async function throughPostfix(s: MssanteSetup, raw: Buffer): Promise<void> {
  const t = await labSoftware(s);
  try {
    expect((await t.sendMail({ envelope: { from: ANNE, to: [RMP] }, raw })).response).toMatch(/^250 /);
  } finally { t.close(); }
}

const receiptFor = (s: MssanteSetup, originalId: string): Buffer | undefined =>
  s.postfix.delivered('anne.biologiste').find((m) => m.includes('disposition-notification') && m.includes(originalId));

/** A lab result through Postfix, filed by the record server: one `processed` MDN back to the lab's mailbox. */
async function processedReceipt(s: MssanteSetup): Promise<void> {
  const originalId = `<lab-mdn-ok-${Date.now()}@${LAB_DOMAIN}>`;
  const hprim = fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8');
  const pdfLine = `% compte rendu ${originalId}`;
  const raw = await new MailComposer({
    from: `"Dr Anne BIOLOGISTE" <${ANNE}>`, to: RMP, messageId: originalId, subject: 'Résultats de biologie', text: hprim,
    headers: { 'Disposition-Notification-To': ANNE },
    attachments: [{ filename: 'resultats.pdf', content: Buffer.from(`%PDF-1.4\n${pdfLine}\n%%EOF\n`), contentType: 'application/pdf' }],
  }).compile().build();
  await throughPostfix(s, raw);

  const mdn = await waitFor(() => receiptFor(s, originalId), 60_000, `the MDN in the lab's Postfix mailbox\n${s.postfix.log()}`);
  const parsed = pythonParse(mdn, s.root);
  expect(parsed.type).toBe('multipart/report');
  expect(parsed.reportType).toBe('disposition-notification');
  expect(parsed.parts).toEqual(['text/plain', 'message/disposition-notification', 'text/rfc822-headers']);
  expect(parsed.fields).toMatchObject({
    'Original-Recipient': `rfc822;${RMP}`,
    'Final-Recipient': `rfc822;${RMP}`,
    'Original-Message-ID': originalId,
    Disposition: 'automatic-action/MDN-sent-automatically; processed',
  });
  expect(parsed.fields.Error).toBeUndefined();
  // The ANS subject convention, with the traits the lab's own message gave (HPRIM) and nothing more.
  // The label is the type's JDV_J07 label (src/message/identity/document-codes.ts).
  expect(parsed.subject).toBe("XDM/1.0/DDM+CR d'examens biologiques DUPONT Jean 30/01/1959");
  expect(parsed.from).toBe(RMP);
  expect(parsed.inReplyTo).toBe(originalId);
  expect(parsed.rfc822Headers).toContain(`Message-ID: ${originalId}`);
  expect(parsed.human).toMatch(/a été intégré/);
  // RFC 8098 §3: the MDN's envelope sender is null.
  expect(parsed.returnPath).toBe('<>');
  // Like every mail medgate sends to an MSSanté mailbox, it names the software (ECO.2.4.3: all mails).
  const head = mdn.toString('latin1').slice(0, mdn.indexOf('\n\n'));
  expect(head.match(/^X-MSS-NIL: .*$/gm)).toEqual([`X-MSS-NIL: ${PRODUCT_REFERENCE}`]);
  // Delivered by medgate over mutual TLS, its client certificate verified by Postfix.
  expect(mdn.toString('latin1')).toMatch(/\(Client CN "localhost", Issuer "[^"]+" \(verified OK\)\)/);
  // Neither the result nor its PDF nor the INS goes back.
  const text = mdn.toString('utf8');
  for (const needle of ['Glyc', '159018002121980', pdfLine, 'resultats.pdf', '%PDF']) expect(text, needle).not.toContain(needle);
  // Nothing in clear at rest: the receipt waited in the queue sealed to the transit key.
  expect(await s.atRest('XDM/1.0/DDM+')).toEqual([]);
  expect(await s.atRest('DUPONT')).toEqual([]);
  const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
  expect(audit).toMatch(/"action":"filing\.receipt","outcome":"ok".*"delivery":"mssante","format":"ans"/);
  // Exactly one, after the receipt pass and the queue had time to run again.
  await new Promise((r) => setTimeout(r, 1500));
  expect(s.postfix.delivered('anne.biologiste').filter((m) => m.includes('disposition-notification') && m.includes(originalId))).toHaveLength(1);
}

describe.skipIf(!postfixAvailability())('integration receipts to an MSSanté sender, in the ANS format (Postfix)', () => {
  let s: MssanteSetup;
  beforeAll(async () => {
    s = await setupMssante('allow', { accounts: [{ address: RMP, kind: 'rmp', password: PASSWORD }] });
  }, 180_000);
  afterAll(async () => { await s?.cleanup(); });

  it('a lab result filed by the record server: the lab\'s mailbox gets one `processed` MDN, over verified mutual TLS, with nothing of the result in it', () => processedReceipt(s), 120_000);

  it('a report the record server refuses (a biologist cannot author imaging): `processed/Error` with the ANS code and label, the KO subject, the reason, and no patient', async () => {
    const originalId = `<lab-mdn-ko-${Date.now()}@${LAB_DOMAIN}>`;
    const raw = await new MailComposer({
      from: ANNE, to: RMP, messageId: originalId, subject: "Compte rendu d'échographie abdominale",
      text: "Compte rendu d'échographie abdominale\nFoie de taille normale, homogène.\n",
      headers: { 'Disposition-Notification-To': ANNE, 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' },
    }).compile().build();
    await throughPostfix(s, raw);
    await waitFor(() => /status=sent \(250 2\.6\.0 Not filed/.test(s.postfix.log()), 30_000, `medgate's answer to Postfix\n${s.postfix.log()}`);

    const mdn = await waitFor(() => receiptFor(s, originalId), 60_000, `the error MDN in the lab's Postfix mailbox\n${s.postfix.log()}`);
    const parsed = pythonParse(mdn, s.root);
    expect(parsed.reportType).toBe('disposition-notification');
    expect(parsed.fields.Disposition).toBe('automatic-action/MDN-sent-automatically; processed/Error: 207^Application error');
    expect(parsed.fields['Original-Message-ID']).toBe(originalId);
    expect(parsed.fields.Error).toMatch(/^denied by the shared-record rights matrix: a biologist cannot author an imaging report/);
    expect(parsed.subject).toBe('[KO Intégration système !][207] XDM/1.0/DDM+Document');
    expect(parsed.human).toContain("n'a pas pu être intégré");
    expect(parsed.human).toContain('207^Application error');
    expect(mdn.toString('utf8')).not.toMatch(/DUPONT|Jean|Foie|1959/);
  }, 120_000);
});

describe.skipIf(!postfixAvailability() || !testPostgres())('integration receipts to an MSSanté sender, in the ANS format (Postfix), on PostgreSQL', () => {
  let s: MssanteSetup;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('mssante_mdn');
    s = await setupMssante('allow', { postgresUrl: db.url, accounts: [{ address: RMP, kind: 'rmp', password: PASSWORD }] });
  }, 180_000);
  afterAll(async () => { await s?.cleanup(); await db?.drop(); });

  it('a lab result filed by the record server: the lab\'s mailbox gets one `processed` MDN, with nothing of the result in it', () => processedReceipt(s), 120_000);
});
