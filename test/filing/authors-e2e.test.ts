/**
 * Author and transmitter end to end (issue 30): a GP forwards into the shared record what others
 * wrote, through a real `medgate serve`, submitting with nodemailer. The rights matrix judges the
 * author: the lab of an HPRIM header (mapped in filing.hprimLabs), the author in XDM metadata (found
 * in the directory), no verifiable author (filed, marked), and what the GP wrote himself.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SAMPLES, runCli, SAMPLES, startServe, tempDir, writeGatewayConfig, type CliResult, type ServeProcess } from '../helpers/gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const BIO = 'anne.biologiste@labo-biotest.medgate.test';
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [RMP]: 'record server secret 0' };
const TAG = 'PATIENT: DUPONT Jean 30/01/1959';
const PDF = Buffer.from('%PDF-1.4\n% synthetic\n%%EOF\n');
const HISTO_PDF = Buffer.concat([Buffer.from('%PDF-1.4\n% histologie\n'), Buffer.from([0, 1, 2, 250, 251, 252, 13, 10]), Buffer.from('%%EOF\n')]);
const ECG_PDF = Buffer.from('%PDF-1.4\n% ECG 12 derivations\n%%EOF\n');

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

/** The sample XDM archive, its entry a lab report (11502-2) written by the author of national id `authorId`, its file named by the URI slot. */
function xdmBy(authorId: string, family: string): Buffer {
  const metadata = fs.readFileSync(path.join(SAMPLES, 'xdm', 'IHE_XDM', 'SUBSET01', 'METADATA.XML'), 'utf8')
    .replace('nodeRepresentation="18842-5"', 'nodeRepresentation="11502-2"')
    .replace("<rim:Name><rim:LocalizedString value=\"Compte rendu d'hospitalisation\"/></rim:Name>", `<rim:Slot name="URI"><rim:ValueList><rim:Value>BIO.PDF</rim:Value></rim:ValueList></rim:Slot>
      <rim:Name><rim:LocalizedString value="Compte rendu d'examens biologiques"/></rim:Name>
      <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="Document01" nodeRepresentation="" id="cl03">
        <rim:Slot name="authorPerson"><rim:ValueList><rim:Value>${authorId}^${family}^Test^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO</rim:Value></rim:ValueList></rim:Slot>
      </rim:Classification>`);
  return Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/METADATA.XML': new TextEncoder().encode(metadata), 'IHE_XDM/SUBSET01/BIO.PDF': new Uint8Array(PDF) }));
}

interface ShownDoc { part: string; type: string; title: string | null; sender: string; author: { status: string; address?: string; via?: string }; authorMark: string }

describe('authors and transmitters, through medgate serve', () => {
  let dir: string;
  let config: string;
  let serve: ServeProcess;
  let caPem: string;
  const cli = (...args: string[]) => runCli([...args, '--config', config]);

  async function submit(o: { subject: string; text: string; attachments?: Array<{ filename: string; content: Buffer; contentType: string }> }): Promise<void> {
    const raw = await new MailComposer({ from: PAUL, to: RMP, subject: o.subject, text: o.text, attachments: o.attachments ?? [] }).compile().build();
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: serve.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PW[PAUL]! }, tls: { ca: caPem, servername: 'localhost' },
    });
    try {
      await t.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw });
    } finally {
      t.close();
    }
  }
  const refusal = (p: Promise<void>) => p.then(() => undefined, (e: { responseCode?: number; response?: string }) => e);

  beforeAll(async () => {
    dir = tempDir('medgate-authors-e2e-');
    config = writeGatewayConfig(dir, { domain: DOMAIN, extra: { filing: { hprimLabs: { LABOBIO01: BIO } } } });
    await must(cli('pki', 'init'), 'pki init');
    await must(cli('init'), 'init');
    await must(cli('directory', 'import', path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt')), 'directory import');
    await must(cli('user', 'add', PAUL, '--kind', 'person', '--rpps', '10100000017', '--password', PW[PAUL]!), 'add paul');
    await must(cli('user', 'add', RMP, '--kind', 'rmp', '--password', PW[RMP]!), 'add rmp');
    caPem = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
    serve = await startServe(config);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('files each document under its author, or marked as transmitted; refuses only an author without the right', async () => {
    // 1. The lab's HPRIM result, forwarded by the GP: its header names LABOBIO01, mapped to the biologist.
    const hprim = fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8');
    await submit({ subject: `${TAG} Résultats du laboratoire`, text: hprim });
    // 2. His own résumé, with a histology report (no verifiable author) and an ECG.
    const resume = 'Résumé médical\n\nAntécédents : HTA\nAllergies : aucune connue\nTraitement en cours : ramipril 5 mg\nVaccinations : à jour\n';
    await submit({
      subject: `${TAG} Résumé médical`, text: resume,
      attachments: [{ filename: 'histologie.pdf', content: HISTO_PDF, contentType: 'application/pdf' }, { filename: 'ECG.pdf', content: ECG_PDF, contentType: 'application/pdf' }],
    });
    // 3. An XDM lab report whose author, in the metadata, is the biologist of the directory.
    await submit({ subject: `${TAG} CR biologie`, text: 'Ci-joint.\n', attachments: [{ filename: 'IHE_XDM.ZIP', content: xdmBy('810100000033', 'BIOLOGISTE'), contentType: 'application/zip' }] });
    // 4. The same with the cardiologist as author: a verified author without the right is refused, and told what to do.
    const refused = await refusal(submit({ subject: `${TAG} CR biologie`, text: 'Ci-joint.\n', attachments: [{ filename: 'IHE_XDM.ZIP', content: xdmBy('810100000025', 'MARTIN'), contentType: 'application/zip' }] }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toMatch(/^550 5\.7\.1 Refused by the shared-record rights matrix \(role specialist\): a specialist doctor cannot author a biology report in a shared record; forward the laboratory's own report instead/);
    // 5. A result he typed himself is his: refused, with what to do instead.
    const typed = await refusal(submit({ subject: `${TAG} Résultats`, text: 'Résultats de biologie\nHémoglobine 14,2 g/dL\n' }));
    expect(typed?.response).toMatch(/a general practitioner cannot author a biology report in a shared record; forward the laboratory's own report instead \(its HPRIM file/);

    const [patient] = JSON.parse((await must(cli('patients', 'search', 'dupont', '--json'), 'search')).stdout) as Array<{ id: string }>;
    const show = JSON.parse((await must(cli('patients', 'show', patient!.id, '--json'), 'show')).stdout) as { tabs: Record<string, ShownDoc[]>; treatingDoctor: string };
    const all = Object.values(show.tabs).flat();
    const doc = (part: string, type: string) => all.find((d) => d.part === part && d.type === type)!;

    const lab = doc('body', 'biology');
    expect(lab.author).toEqual({ status: 'verified', address: BIO, via: 'hprim', name: 'Anne BIOLOGISTE' });
    expect(lab.authorMark).toBe(`author: Anne BIOLOGISTE <${BIO}> (verified from the HPRIM header), transmitted by ${PAUL}`);
    expect(lab.title).toBe('Résultats du laboratoire');

    const summary = doc('body', 'summary');
    expect(summary.author).toEqual({ status: 'sender' });
    expect(summary.title).toBe('Résumé médical');
    expect(show.tabs.summary!.map((d) => d.part)).toEqual(['body']);
    expect(show.treatingDoctor).toBe(PAUL);
    const histology = doc('histologie.pdf', 'pathology-report');
    expect(histology.author).toEqual({ status: 'unverified' });
    expect(histology.authorMark).toBe(`transmitted by ${PAUL}, author not verified`);
    expect(show.tabs.reports!.map((d) => d.part).sort()).toEqual(['ECG.pdf', 'histologie.pdf']);
    // An attachment among several documents is titled by its file name, not by the résumé's subject.
    expect(histology.title).toBe('histologie');
    expect(doc('ECG.pdf', 'exam-report').author).toEqual({ status: 'sender' });

    const xdm = doc('Document01', 'biology');
    expect(xdm.author).toMatchObject({ status: 'verified', address: BIO, via: 'xdm' });
    expect(show.tabs.biology!.map((d) => d.part).sort()).toEqual(['Document01', 'body']);

    const text = (await must(cli('patients', 'show', patient!.id), 'show text')).stdout;
    expect(text).toContain(`transmitted by ${PAUL}, author not verified`);
    expect(text).toContain('(verified from the HPRIM header)');
    expect(text).not.toContain('PATIENT:');

    // The record server's clear route fields (rmp pull over IMAP) carry the claims with their transmitter.
    const out = path.join(dir, 'rmp-tree');
    await must(runCli(['rmp', 'pull', '--host', '127.0.0.1', '--port', String(serve.ports.imap), '--user', RMP, '--password', PW[RMP]!,
      '--out', out, '--ca', path.join(dir, 'certs', 'ca.pem')]), 'rmp pull');
    const emls = fs.readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.eml')).map((f) => fs.readFileSync(path.join(out, f), 'latin1'));
    const marks = emls.flatMap((e) => [.../^X-Medgate-Route-Authors: (\S+)\r?$/m.exec(e)?.slice(1) ?? []])
      .flatMap((b64) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Array<{ part: string; mark: string }>);
    expect(marks).toContainEqual({ part: 'body', mark: `transmitted by ${PAUL}, author claimed: Laboratoire Bio-Test Antony (hprim), not verified by these fields` });
    expect(marks).toContainEqual({ part: 'Document01', mark: `transmitted by ${PAUL}, author claimed: Test BIOLOGISTE (xdm), not verified by these fields` });
    for (const e of emls) expect(e).not.toMatch(/X-Medgate-Route-Document-Title: .*PATIENT/);

    const exp = path.join(dir, 'export');
    await must(cli('patients', 'export', '--all', '--out', exp), 'export');
    const xml = fs.readFileSync(path.join(exp, fs.readdirSync(exp)[0]!, 'export.xml'), 'utf8');
    expect(xml).toContain(`<author status="unverified">transmitted by ${PAUL}, author not verified</author>`);
    expect(xml).toMatch(new RegExp(`<author status="verified" address="${BIO}" via="hprim" name="Anne BIOLOGISTE">`));
  }, 180_000);

  it('portable export: the originals, decrypted with the record server\'s key, only inside the passphrase archive; gpg and unzip open it', async () => {
    const pwFile = path.join(dir, 'rmp.password');
    fs.writeFileSync(pwFile, PW[RMP]!, { mode: 0o600 });
    const out = path.join(dir, 'portable');
    const portable = ['patients', 'export', '--all', '--portable', '--record-server', RMP, '--record-server-password-file', pwFile];
    // Never clear files unless the operator says so.
    const refused = await cli(...portable, '--out', path.join(dir, 'clear-refused'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/give --passphrase \(one encrypted archive\), or --write-clear-files/);
    expect(fs.existsSync(path.join(dir, 'clear-refused'))).toBe(false);

    await must(cli(...portable, '--out', out, '--passphrase', 'correct horse battery'), 'portable export');
    expect(fs.readdirSync(out)).toEqual(['medgate-export.zip.pgp']);
    const home = fs.mkdtempSync(path.join(dir, 'gnupg-'));
    fs.chmodSync(home, 0o700);
    const zip = path.join(dir, 'portable.zip');
    execFileSync('gpg', ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', 'correct horse battery', '--output', zip, '--decrypt', path.join(out, 'medgate-export.zip.pgp')], { stdio: 'pipe' });
    const tree = path.join(dir, 'portable-tree');
    execFileSync('unzip', ['-q', zip, '-d', tree]);
    const [folder] = fs.readdirSync(tree);
    const xml = fs.readFileSync(path.join(tree, folder!, 'export.xml'), 'utf8');
    const originalOf = (part: string): string => new RegExp(`<document [^>]*part="${part.replace('.', '\\.')}"[^>]*original="([^"]+)"`).exec(xml)?.[1] ?? '';
    // Named by date, type and title; byte-identical to what the doctor attached.
    expect(originalOf('ECG.pdf')).toMatch(/^documents\/\d{4}-\d{2}-\d{2}_exam-report_ECG\.pdf$/);
    expect(originalOf('histologie.pdf')).toMatch(/^documents\/\d{4}-\d{2}-\d{2}_pathology-report_histologie\.pdf$/);
    expect(fs.readFileSync(path.join(tree, folder!, originalOf('ECG.pdf')))).toEqual(ECG_PDF);
    expect(fs.readFileSync(path.join(tree, folder!, originalOf('histologie.pdf')))).toEqual(HISTO_PDF);
    // The XDM entry's own file (named by its URI slot), out of the IHE_XDM.ZIP.
    expect(originalOf('Document01')).toMatch(/^documents\/\d{4}-\d{2}-\d{2}_biology_.*\.pdf$/);
    expect(fs.readFileSync(path.join(tree, folder!, originalOf('Document01')))).toEqual(PDF);
    // The summary (the body he typed) and the lab's HPRIM text.
    const texts = fs.readdirSync(path.join(tree, folder!, 'documents')).filter((f) => f.endsWith('.txt')).map((f) => fs.readFileSync(path.join(tree, folder!, 'documents', f), 'utf8'));
    expect(texts.some((t) => t.startsWith('Résumé médical\n\nAntécédents : HTA'))).toBe(true);
    expect(texts.some((t) => t.includes('****LAB****') && t.includes('LABOBIO01'))).toBe(true);
    // Each decryption is audited.
    const audit = (await must(cli('audit', 'list', '--limit', '100000'), 'audit')).stdout;
    expect(audit.split('\n').filter((l) => l.includes('"action":"patients.export.decrypt"')).length).toBeGreaterThanOrEqual(5);
    // The sealed originals ride along: patients import reads a portable archive as any other.
    const dry = JSON.parse((await must(cli('patients', 'import', path.join(out, 'medgate-export.zip.pgp'), '--passphrase', 'correct horse battery', '--dry-run', '--json'), 'import dry run')).stdout) as { totals: Record<string, number> };
    expect(dry.totals).toMatchObject({ matched: 1, rejected: 0, documentsRejected: 0 });

    // Clear files only when asked, with the flag that says so.
    const clear = path.join(dir, 'clear');
    await must(cli(...portable, '--out', clear, '--write-clear-files'), 'clear portable export');
    const clearDocs = fs.readdirSync(path.join(clear, fs.readdirSync(clear)[0]!, 'documents'));
    expect(clearDocs.length).toBeGreaterThanOrEqual(5);
  }, 120_000);
});
