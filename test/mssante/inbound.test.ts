/**
 * Inbound from an MSSanté operator (issue 28 items 1 and 5): a real Postfix relays a lab's plain
 * MIME result (HPRIM body + PDF) into medgate's relay port over verified mutual TLS. medgate seals
 * it on arrival, before the 250, for the doctor and the record server; the doctor reads it over IMAP
 * with the transport verdict; the record server files it in biology (the biologist's directory
 * role); nothing about the patient is at rest in clear. Bad input keeps precise, audited refusals.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePgpKey } from '../../src/crypto/keys.js';
import { buildDirectoryExport } from '../../src/directory/peer-export.js';
import { loadTestCa } from '../../src/pki/index.js';
import type { DirectoryEntry } from '../../src/store/types.js';
import { SAMPLES } from '../helpers/gateway.js';
import { postfixAvailability } from '../helpers/postfix.js';
import { createTestDatabase, testPostgres } from '../helpers/postgres.js';
import { ANNE, DOMAIN, IMAGING_DOMAIN, LAB_DOMAIN, MARC, PASSWORD, PAUL, readMailbox, setupMssante, waitFor, type MssanteSetup } from './fixture.js';

const RMP = `rmp@${DOMAIN}`;
const CARDIO_DOMAIN = 'cardio-sceaux.medgate.test';
const CLAIRE = `claire.martin@${CARDIO_DOMAIN}`;
const MAX_BYTES = 256 * 1024;

/** The lab's software submitting to its own operator (Postfix), which relays to medgate. */
async function labSoftware(s: MssanteSetup): Promise<nodemailer.Transporter> {
  const ca = await loadTestCa(path.join(s.dir, 'certs'));
  const lgc = await ca.issue({ profile: 'gateway', commonName: `lgc.${LAB_DOMAIN}`, dnsNames: [LAB_DOMAIN] });
  return nodemailer.createTransport({
    host: '127.0.0.1', port: s.postfix.port, secure: false, requireTLS: true, name: `lgc.${LAB_DOMAIN}`,
    tls: { ca: s.caPem, servername: LAB_DOMAIN, cert: lgc.certPem, key: lgc.keyPem },
  });
}

/** Straight to medgate's relay port, as an operator, with a certificate for `names`. */
async function asOperator(s: MssanteSetup, names: string[], from: string, to: string[], raw: string | Buffer): Promise<{ ok: boolean; code?: number; response: string }> {
  const ca = await loadTestCa(path.join(s.dir, 'certs'));
  const cert = await ca.issue({ profile: 'gateway', commonName: names[0]!, dnsNames: names });
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port: s.relayPort, secure: false, requireTLS: true, name: names[0],
    tls: { ca: s.caPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem },
  });
  try {
    const info = await t.sendMail({ envelope: { from, to }, raw });
    return { ok: true, response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, ...(e.responseCode ? { code: e.responseCode } : {}), response: e.response ?? e.message };
  } finally {
    t.close();
  }
}

async function labResult(messageId: string): Promise<{ raw: Buffer; pdfLine: string }> {
  const hprim = fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8');
  const pdfLine = `% compte rendu ${messageId}`;
  const raw = await new MailComposer({
    from: `"Dr Anne BIOLOGISTE" <${ANNE}>`, to: [PAUL, RMP], messageId,
    subject: 'Résultats de biologie', text: hprim,
    attachments: [{ filename: 'resultats.pdf', content: Buffer.from(`%PDF-1.4\n${pdfLine}\n%%EOF\n`), contentType: 'application/pdf' }],
  }).compile().build();
  return { raw, pdfLine };
}

async function labResultThroughPostfix(s: MssanteSetup): Promise<void> {
  const messageId = `<lab-result-${Date.now()}@${LAB_DOMAIN}>`;
  const { raw, pdfLine } = await labResult(messageId);
  const info = await (await labSoftware(s)).sendMail({ envelope: { from: ANNE, to: [PAUL, RMP] }, raw });
  expect(info.response).toMatch(/^250 /);
  // Postfix verified medgate's certificate, presented its own, and medgate answered after sealing.
  const log = await waitFor(() => (/status=sent .*Sealed on arrival/.test(s.postfix.log()) ? s.postfix.log() : undefined), 30_000, `Postfix's relay to medgate\n${s.postfix.log()}`);
  expect(log).toMatch(new RegExp(`Verified TLS connection established to localhost\\[127\\.0\\.0\\.1\\]:${s.relayPort}: TLSv1\\.[23]`));
  expect(log).toMatch(/status=sent \(250 2\.6\.0 Sealed on arrival and delivered as </);

  // The doctor's copy and the record server's filing are independent: checked at the same time.
  await Promise.all([
    (async () => {
      // The doctor reads it decrypted over IMAP, with the transport verdict above the lab's headers.
      const mail = await waitFor(async () => (await readMailbox(s, PAUL, 'INBOX')).find((m) => m.includes(messageId)), 30_000, 'the result in the doctor\'s INBOX');
      expect(mail).toContain(`X-Medgate-Signature: transport; operator=${LAB_DOMAIN}; sender=${ANNE} (directory); not signed end to end`);
      // The operator's certificate as the relay verified it: the one Postfix presented.
      const transport = /^X-Medgate-Transport: MSSante mutual TLS; peer=CN=mx\.labo-biotest\.medgate\.test; fingerprint=([0-9A-F:]+)\r?$/m.exec(mail)?.[1];
      expect(transport?.replace(/:/g, '').toLowerCase()).toBe(s.postfix.fingerprint256.replace(/:/g, '').toLowerCase());
      expect(mail).toMatch(/X-Medgate-Signer: Anne BIOLOGISTE/);
      expect(mail).toContain('Subject: =?UTF-8?Q?R=C3=A9sultats_de_biologie?=');
      expect(mail).toContain('resultats.pdf');
    })(),
    (async () => {
      // The record server's gateway filed it in biology, from the biologist's directory role.
      const search = await waitFor(async () => {
        const r = JSON.parse((await s.cli('patients', 'search', 'dupont', '--json')).stdout || '[]') as Array<{ id: string; identity: { givenName: string; birthDate: string } }>;
        return r.find((p) => p.identity.birthDate === '1959-01-30');
      }, 30_000, 'the patient filed');
      const show = JSON.parse((await s.cli('patients', 'show', search.id, '--json')).stdout) as { tabs: Record<string, Array<{ part: string; sender: string }>> };
      expect(show.tabs.biology?.map((d) => d.part).sort()).toEqual(['body', 'resultats.pdf']);
      expect(show.tabs.biology?.[0]?.sender).toBe(ANNE);
      // The record server's IMAP view: the verified routing fields name the transport.
      const filed = await waitFor(async () => (await readMailbox(s, RMP, 'INBOX')).find((m) => m.includes('X-Medgate-Route-Transport')), 30_000, 'the record server copy');
      expect(filed).toContain(`X-Medgate-Route-Transport: mssante; operator=${LAB_DOMAIN}`);
    })(),
  ]);
  // Once filed (what filing wrote included): the audit trail and what is at rest, at the same time.
  await Promise.all([
    (async () => {
      // Audited with the transport, never with the patient.
      const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
      expect(audit).toMatch(/"action":"message\.relay\.accept".*"transport":"mssante-intake"/);
      expect(audit).not.toMatch(/DUPONT|1959-01-30/);
    })(),
    (async () => {
      // Nothing about the patient in clear at rest: not in the store, the blobs, the spool.
      for (const needle of ['DUPONT', '159018002121980', 'Glycémie', pdfLine]) expect(await s.atRest(needle), needle).toEqual([]);
    })(),
  ]);
}

describe.skipIf(!postfixAvailability())('inbound from an MSSanté operator (Postfix)', () => {
  let s: MssanteSetup;
  beforeAll(async () => {
    s = await setupMssante('allow', { extra: { limits: { maxMessageBytes: MAX_BYTES } }, accounts: [{ address: RMP, kind: 'rmp', password: PASSWORD }] });
  }, 180_000);
  afterAll(async () => { await s?.cleanup(); });

  it('a lab\'s HPRIM + PDF result is sealed on arrival, read with the transport verdict, filed in biology, and nothing is in clear at rest', () => labResultThroughPostfix(s), 120_000);

  it('an S/MIME message signed but not enveloped is sealed on arrival; its signature is verified and reported (valid, or invalid when altered)', async () => {
    const ca = await loadTestCa(path.join(s.dir, 'certs'));
    const anne = await ca.issue({ profile: 'user', commonName: 'Anne BIOLOGISTE', emails: [ANNE] });
    const work = fs.mkdtempSync(path.join(s.root, 'smime-'));
    fs.writeFileSync(path.join(work, 'cert.pem'), anne.certPem);
    fs.writeFileSync(path.join(work, 'key.pem'), anne.keyPem, { mode: 0o600 });
    const signedMail = (id: string, body: string): string => {
      const inner = `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: resultat signe\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}\r\n`;
      const signed = execFileSync('openssl', ['cms', '-sign', '-signer', path.join(work, 'cert.pem'), '-inkey', path.join(work, 'key.pem'), '-md', 'sha256'], { input: inner }).toString('latin1');
      return `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: resultat signe\r\nMessage-ID: ${id}\r\n${signed.replace(/\r?\n/g, '\r\n')}`;
    };
    const good = `<smime-signed-${Date.now()}@${LAB_DOMAIN}>`;
    expect((await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], signedMail(good, 'Kaliemie 4.1 mmol/l'))).response).toMatch(/^250 2\.6\.0 Sealed on arrival/);
    const bad = `<smime-altered-${Date.now()}@${LAB_DOMAIN}>`;
    const altered = signedMail(bad, 'Kaliemie 4.1 mmol/l').replace('Kaliemie 4.1', 'Kaliemie 6.1');
    expect((await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], altered)).response).toMatch(/^250 2\.6\.0 Sealed on arrival/);
    const inbox = await readMailbox(s, PAUL, 'INBOX');
    const valid = inbox.find((m) => m.includes(good))!;
    expect(valid).toMatch(new RegExp(`^X-Medgate-Signature: transport; operator=${LAB_DOMAIN.replace(/\./g, '\\.')}; sender=${ANNE.replace(/\./g, '\\.')} \\(directory\\); S/MIME signature: valid; signer=${ANNE.replace(/\./g, '\\.')}; fingerprint=[0-9a-f]{64}\r$`, 'm'));
    const invalid = inbox.find((m) => m.includes(bad))!;
    expect(invalid).toMatch(/^X-Medgate-Signature: transport; .*; S\/MIME signature: invalid \(SIGNATURE_INVALID\)\r$/m);
    expect(invalid).not.toMatch(/S\/MIME signature: valid/);
  }, 60_000);

  it('a hospital\'s XDM letter (IHE_XDM.ZIP with the INS, X-MSS-* fields, the XDM subject) is sealed on arrival and filed in reports under the patient\'s INS', async () => {
    const messageId = `<cr-hospit-${Date.now()}@${CARDIO_DOMAIN}>`;
    // The sample as a hospital's operator relays it (no receipt asked here: the receipts test covers them).
    const raw = fs.readFileSync(path.join(SAMPLES, 'mssante-xdm-hospital.eml'), 'latin1')
      .replace(/^Message-ID: .*$/m, `Message-ID: ${messageId}`).replace(/^Disposition-Notification-To: .*\r?\n/m, '');
    const sent = await asOperator(s, [CARDIO_DOMAIN], CLAIRE, [PAUL, RMP], Buffer.from(raw, 'latin1'));
    expect(sent.response).toMatch(/^250 2\.6\.0 Sealed on arrival/);
    const mail = (await readMailbox(s, PAUL, 'INBOX')).find((m) => m.includes(messageId));
    expect(mail).toContain(`X-Medgate-Signature: transport; operator=${CARDIO_DOMAIN}; sender=${CLAIRE} (directory); not signed end to end`);
    expect(mail).toContain('X-MSS-CODECDA: 34133-9');
    const patient = await waitFor(async () => {
      const found = JSON.parse((await s.cli('patients', 'search', 'dupont', '--json')).stdout || '[]') as Array<{ id: string; identity: { birthDate: string } }>;
      const p = found.find((x) => x.identity.birthDate === '1959-01-30');
      if (!p) return undefined;
      const show = JSON.parse((await s.cli('patients', 'show', p.id, '--json')).stdout) as { identity: { ins?: { value?: string } | string }; tabs: Record<string, Array<{ part: string; sender: string; messageId: string }>> };
      return show.tabs.reports?.some((d) => d.sender === CLAIRE) ? show : undefined;
    }, 30_000, 'the hospital report filed');
    expect(JSON.stringify(patient.identity)).toContain('159018002121980');
    expect(patient.tabs.reports!.filter((d) => d.sender === CLAIRE).map((d) => d.part)).toContain('20261204_CRH_DUPONT_Jean_1.pdf');
    // Nothing of the letter, its subject or the INS in clear at rest (the attachment's name: below).
    for (const needle of ['159018002121980', 'hospitalisation', 'Bien confraternellement']) expect(await s.atRest(needle), needle).toEqual([]);
  }, 60_000);

  // Hospitals name their PDFs after the patient (the ANS sample: 20261204_CRH_DUPONT_Jean_1.pdf):
  // the record server's filing table keeps the part name as a keyed hash and encrypted, never in
  // clear (src/filing/part-names.ts), while `patients show` above still shows the real name.
  it('an attachment named after the patient leaves no trace of the name in clear in the filing table', async () => {
    expect(await s.atRest('CRH_DUPONT_Jean')).toEqual([]);
  });

  it('an operator retrying after a lost 250 does not place the message twice', async () => {
    const messageId = `<retry-${Date.now()}@${LAB_DOMAIN}>`;
    const raw = `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: controle\r\nMessage-ID: ${messageId}\r\n\r\nbonjour\r\n`;
    const first = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], raw);
    expect(first.response).toMatch(/^250 2\.6\.0 Sealed on arrival/);
    const again = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], raw);
    expect(again.response).toMatch(/already delivered: not placed twice/);
    expect((await readMailbox(s, PAUL, 'INBOX')).filter((m) => m.includes(messageId))).toHaveLength(1);
  }, 60_000);

  it('an oversized message gets 552 with the limit, a malformed one 554 with the reason; neither is stored', async () => {
    const before = (await readMailbox(s, PAUL, 'INBOX')).length;
    const marker = `Refus-${Date.now()}-kaliemie`;
    const big = `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: gros\r\n\r\n${marker}\r\n${'z'.repeat(76)}\r\n`.padEnd(MAX_BYTES + 10_000, 'z');
    const tooBig = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], big);
    expect(tooBig).toMatchObject({ ok: false, code: 552 });
    expect(tooBig.response).toContain(`Message too big (limit ${MAX_BYTES} bytes)`);
    const noFrom = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], `To: ${PAUL}\r\nSubject: sans expediteur\r\n\r\n${marker}\r\n`);
    expect(noFrom).toMatchObject({ ok: false, code: 554 });
    expect(noFrom.response).toContain('5.6.0 Malformed message: no From header field');
    // An integration archive that is not a ZIP (truncated on the way, or not what it claims to be).
    const badZip = await new MailComposer({
      from: ANNE, to: PAUL, subject: 'XDM/1.0/DDM+resultats', text: marker,
      attachments: [{ filename: 'IHE_XDM.ZIP', content: Buffer.from(`PK\x03\x04 tronque ${marker}`), contentType: 'application/zip' }],
    }).compile().build();
    const corrupt = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], badZip);
    expect(corrupt).toMatchObject({ ok: false, code: 554 });
    expect(corrupt.response).toMatch(/5\.6\.0 Malformed message: .*\[XDM_ARCHIVE_INVALID\]/);
    expect(await readMailbox(s, PAUL, 'INBOX')).toHaveLength(before);
    // Never half-stored: no byte of either in the data directory (store, blobs, spool), no spool file left.
    expect(await s.atRest(marker)).toEqual([]);
    const spool = path.join(s.dir, 'data', 'spool');
    expect(fs.existsSync(spool) ? fs.readdirSync(spool) : []).toEqual([]);
    const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
    expect(audit).toMatch(/"action":"smtp\.relay\.data\.refused".*"code":"message-too-big"/);
    expect(audit.match(/"action":"smtp\.relay\.data\.refused".*"code":"message-malformed"/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('keeps today\'s precise, audited refusals: sender not in the directory, a certificate for another domain, a domain not on the whitelist', async () => {
    const raw = `From: x@${LAB_DOMAIN}\r\nTo: ${PAUL}\r\nSubject: x\r\n\r\nx\r\n`;
    const unknown = await asOperator(s, [LAB_DOMAIN], `inconnu@${LAB_DOMAIN}`, [PAUL], raw);
    expect(unknown).toMatchObject({ ok: false, code: 550 });
    expect(unknown.response).toMatch(/inconnu@labo-biotest\.medgate\.test/);
    const otherDomain = await asOperator(s, [LAB_DOMAIN], MARC, [PAUL], raw);
    expect(otherDomain).toMatchObject({ ok: false, code: 550 });
    expect(otherDomain.response).toMatch(/imagerie-bourg\.medgate\.test/);
    const notListed = await asOperator(s, ['labo-inconnu.example'], 'bio@labo-inconnu.example', [PAUL], raw);
    expect(notListed).toMatchObject({ ok: false, code: 550 });
    expect(notListed.response).toMatch(/labo-inconnu\.example/);
    const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
    expect(audit.match(/"action":"smtp\.relay\.mail\.refused"/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
  }, 60_000);

  it('plain mail in the name of a sender who has a medgate/1 key is refused as a downgrade, saying why and what to do', async () => {
    // The radiologist's gateway becomes a medgate peer: its export gives him a medgate/1 key.
    const entry = (JSON.parse((await s.cli('directory', 'show', MARC, '--json')).stdout) as DirectoryEntry[])[0]!;
    const key = await generatePgpKey('Marc RADIO', MARC);
    const file = path.join(s.root, 'imagerie-export.json');
    fs.writeFileSync(file, buildDirectoryExport({ gatewayDomain: IMAGING_DOMAIN, entries: [{ ...entry, pgpPublicKey: key.publicKeyArmored }] }));
    const imported = await s.cli('directory', 'peer', 'import', file);
    expect(imported.code, imported.stderr).toBe(0);
    const plain = await asOperator(s, [IMAGING_DOMAIN], MARC, [PAUL], `From: ${MARC}\r\nTo: ${PAUL}\r\nSubject: compte rendu\r\n\r\nen clair\r\n`);
    expect(plain).toMatchObject({ ok: false, code: 554 });
    expect(plain.response).toContain(`5.7.1 Only sealed (medgate/1) messages are accepted on the relay port from ${MARC}: the health directory lists a medgate/1 key for this sender, so plain mail in their name is refused as a downgrade; send it sealed, through the sender's own medgate gateway`);
    const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
    expect(audit).toMatch(new RegExp(`"action":"smtp\\.relay\\.data\\.refused".*"code":"relay-not-sealed".*${MARC.replace(/\./g, '\\.')}`));
  }, 60_000);

  it('once the operator\'s certificate is revoked, its next message is refused at MAIL FROM', async () => {
    const ca = await loadTestCa(path.join(s.dir, 'certs'));
    const cert = await ca.issue({ profile: 'gateway', commonName: LAB_DOMAIN, dnsNames: [LAB_DOMAIN] });
    const revoked = await s.cli('pki', 'revoke', cert.serial);
    expect(revoked.code, revoked.stderr).toBe(0);
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: s.relayPort, secure: false, requireTLS: true,
      tls: { ca: s.caPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem },
    });
    await expect(t.sendMail({ envelope: { from: ANNE, to: [PAUL] }, raw: `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: x\r\n\r\nx\r\n` }))
      .rejects.toMatchObject({ responseCode: 535, response: expect.stringMatching(/revoked/) });
    const audit = (await s.cli('audit', 'list', '--limit', '1000')).stdout;
    expect(audit).toMatch(/"action":"smtp\.relay\.mail\.refused".*"code":"relay-certificate-refused"/);
  }, 60_000);

  it('once Postfix\'s own certificate is revoked, medgate refuses what it relays (535 at MAIL FROM) and Postfix bounces it to the lab: nothing is kept', async () => {
    const revoked = await s.cli('pki', 'revoke', s.postfix.serial);
    expect(revoked.code, revoked.stderr).toBe(0);
    const messageId = `<after-revocation-${Date.now()}@${LAB_DOMAIN}>`;
    const { raw } = await labResult(messageId);
    const certificateRefusals = async (): Promise<number> => (await s.cli('audit', 'list', '--limit', '10000')).stdout.split('\n')
      .filter((l) => l.includes('"action":"smtp.relay.mail.refused"') && l.includes('"code":"relay-certificate-refused"')).length;
    const refusalsBefore = await certificateRefusals();
    const bouncesBefore = s.postfix.delivered('anne.biologiste').length;
    const inboxBefore = (await readMailbox(s, PAUL, 'INBOX')).length;
    // The lab's software hands it to its operator, which accepts it; the relay to medgate fails.
    expect((await (await labSoftware(s)).sendMail({ envelope: { from: ANNE, to: [PAUL] }, raw })).response).toMatch(/^250 /);
    const log = await waitFor(() => (/status=bounced .*535 5\.7\.1 Peer certificate refused: revoked/.test(s.postfix.log()) ? s.postfix.log() : undefined), 30_000, `Postfix's bounce\n${s.postfix.log()}`);
    expect(log).toMatch(/in reply to MAIL FROM command/);
    // The lab's sender gets Postfix's non-delivery report, naming medgate's reason.
    const bounce = await waitFor(() => s.postfix.delivered('anne.biologiste').slice(bouncesBefore).find((m) => m.includes('Peer certificate refused: revoked')), 30_000, 'the bounce in the lab\'s mailbox');
    expect(bounce.toString('latin1')).toMatch(/Final-Recipient: rfc822; ?paul\.demo@cabinet-antony\.medgate\.test/i);
    expect(await readMailbox(s, PAUL, 'INBOX')).toHaveLength(inboxBefore);
    expect(await certificateRefusals()).toBeGreaterThan(refusalsBefore);
  }, 90_000);

  it('the intake key is loaded once: with its file gone, the running gateway still signs with the key its readers trust', async () => {
    // Read per message, a missing file made a new key on disk: the message was signed by a key the
    // running readers did not know, and lost its transport verdict.
    const file = path.join(s.dir, 'data', 'keys', 'mssante-intake-key.asc');
    const kept = `${file}.kept`;
    fs.renameSync(file, kept);
    try {
      const messageId = `<intake-key-once-${Date.now()}@${LAB_DOMAIN}>`;
      const sent = await asOperator(s, [LAB_DOMAIN], ANNE, [PAUL], `From: ${ANNE}\r\nTo: ${PAUL}\r\nSubject: controle\r\nMessage-ID: ${messageId}\r\n\r\nbonjour\r\n`);
      expect(sent.response).toMatch(/^250 2\.6\.0 Sealed on arrival/);
      // (Signed by a key the readers do not trust, it showed as an unreadable placeholder instead.)
      const mail = (await readMailbox(s, PAUL, 'INBOX')).find((m) => m.includes(messageId));
      expect(mail, 'the message, readable in the INBOX').toBeDefined();
      expect(mail).toContain(`X-Medgate-Signature: transport; operator=${LAB_DOMAIN}; sender=${ANNE} (directory); not signed end to end`);
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      fs.rmSync(file, { force: true });
      fs.renameSync(kept, file);
    }
  }, 60_000);
});

describe.skipIf(!postfixAvailability() || !testPostgres())('inbound from an MSSanté operator (Postfix), on PostgreSQL', () => {
  let s: MssanteSetup;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('mssante_in');
    s = await setupMssante('allow', { postgresUrl: db.url, accounts: [{ address: RMP, kind: 'rmp', password: PASSWORD }] });
  }, 180_000);
  afterAll(async () => { await s?.cleanup(); await db?.drop(); });

  it('a lab\'s HPRIM + PDF result is sealed on arrival, read with the transport verdict, filed in biology, and nothing is in clear at rest', () => labResultThroughPostfix(s), 120_000);
});
