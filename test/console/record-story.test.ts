/**
 * Issue 30's whole story, end to end, as the doctors tell it: a treating doctor feeds his patient's
 * shared record from an ordinary mail client, and reads it in the console.
 *
 * 1. His replacement sends a "Résumé médical" first (antécédents, allergies, traitement en cours,
 *    vaccinations), signed as the replacement.
 * 2. The doctor sends his own résumé with the hospital report he received (an XDM archive whose
 *    metadata names the cardiologist who wrote it), then a later résumé with a radiologist's report
 *    (the radiologist's message, S/MIME-signed, forwarded as an attachment) and a pneumologist's
 *    (her message, unsigned, forwarded as an attachment).
 * 3. Then an ECG and a lung-function test (EFR) he attaches, the lab's results (HPRIM text, the lab
 *    code mapped in filing.hprimLabs) and a histology report (a PDF; no author medgate can verify).
 *
 * Real parts: `medgate serve` with its console and HTTPS API; nodemailer submitting as each doctor;
 * `openssl cms -sign` signing as the radiologist with the certificate the CA issued him; Chromium
 * driven by playwright-core for the treating doctor and a colleague who reaches the record with the
 * patient's access code; curl-equivalent HTTPS (Node's https with the record server's certificate)
 * for the API, and `patients show` for the operator. Screenshots go to test-artifacts/record-story/
 * (git-ignored); docs/record-console/histoire-*.png are copies of them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLES } from '../helpers/gateway.js';
import { httpsRequest, must, startConsoleGateway, type Answer, type ConsoleGateway } from './console-fixture.js';

const DOMAIN = 'cabinet-antony.medgate.test';
/** The treating doctor (a GP). */
const PAUL = `paul.demo@${DOMAIN}`;
/** His replacement (a GP of the same practice). */
const JL = `jl.letest@${DOMAIN}`;
/** A radiologist with an account here (the directory's radiologist's RPPS): he signs his report, and later reaches the record with the access code. */
const RADIO = `radio@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
/** From the directory (samples/ans-extraction-mssante.txt): the cardiologist who wrote the hospital report, and the lab. */
const CARDIOLOGIST_ID = '810100000025';
const CARDIOLOGIST = 'claire.martin@cardio-sceaux.medgate.test';
const BIOLOGIST = 'anne.biologiste@labo-biotest.medgate.test';
/** Not in the directory: her forwarded message names her, nothing verifies her. */
const PNEUMO = 'dr.souffle@pneumo-antony.medgate.test';
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [JL]: 'jl password 4567', [RADIO]: 'radio password 890', [RMP]: 'record server secret 0' };
const TAG = 'PATIENT: DUPONT Jean 30/01/1959';

const HOSPITAL_PDF = Buffer.from('%PDF-1.4\n% Compte rendu d\'hospitalisation, cardiologie\n%%EOF\n');
const ECG_PDF = Buffer.from('%PDF-1.4\n% ECG 12 derivations\n%%EOF\n');
const EFR_PDF = Buffer.from('%PDF-1.4\n% EFR spirometrie\n%%EOF\n');
const HISTO_PDF = Buffer.from('%PDF-1.4\n% histologie biopsie bronchique\n%%EOF\n');

const resume = (version: string, treatment: string, signature: string): string =>
  `Résumé médical\n\nAntécédents : HTA depuis 2010\nDiabète de type 2\nAllergies et intolérances : pénicilline\nTraitement en cours : ${treatment}\nVaccinations : DTP 2019, grippe ${version}\n\n${signature}\n`;

const crlf = (lines: string[]): string => lines.join('\r\n');

/** The sample XDM archive (a discharge summary, 18842-5) of DUPONT Jean, its author the cardiologist of the directory, its file the hospital's PDF. */
function hospitalXdm(): Buffer {
  const metadata = fs.readFileSync(path.join(SAMPLES, 'xdm', 'IHE_XDM', 'SUBSET01', 'METADATA.XML'), 'utf8')
    .replace("<rim:Name><rim:LocalizedString value=\"Compte rendu d'hospitalisation\"/></rim:Name>", `<rim:Slot name="URI"><rim:ValueList><rim:Value>CRH.PDF</rim:Value></rim:ValueList></rim:Slot>
      <rim:Name><rim:LocalizedString value="Compte rendu d'hospitalisation"/></rim:Name>
      <rim:Classification classificationScheme="urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d" classifiedObject="Document01" nodeRepresentation="" id="cl03">
        <rim:Slot name="authorPerson"><rim:ValueList><rim:Value>${CARDIOLOGIST_ID}^MARTIN^Claire^^^^^^&amp;1.2.250.1.71.4.2.1&amp;ISO</rim:Value></rim:ValueList></rim:Slot>
      </rim:Classification>`);
  return Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/METADATA.XML': new TextEncoder().encode(metadata), 'IHE_XDM/SUBSET01/CRH.PDF': new Uint8Array(HOSPITAL_PDF) }));
}

describe('the shared record as doctors feed it (issue 30): the whole story, in the console', () => {
  let g: ConsoleGateway;
  let base: string;
  let patientId: string;
  let accessCode: string;
  const cli = (...args: string[]) => g.cli(...args);
  const certs = (): string => path.join(g.dir, 'client-certs');
  const shot = (page: Page, name: string): Promise<Buffer> => g.shot(page, name);
  const browserLogin = (user: string): Promise<Page> => g.browserLogin(user);

  async function send(from: string, o: { subject: string; text: string; attachments?: Array<{ filename: string; content: Buffer; contentType: string }> }): Promise<void> {
    const raw = await new MailComposer({ from, to: RMP, subject: `${TAG} ${o.subject}`, text: o.text, attachments: o.attachments ?? [] }).compile().build();
    await g.submit(from, raw);
  }

  /** What the radiologist's mail client sends him: his report, signed with OpenSSL (multipart/signed). */
  function signedByRadiologist(): Buffer {
    const subject = 'Compte rendu de scanner thoracique';
    const inner = crlf([`From: ${RADIO}`, `To: ${PAUL}`, `Subject: ${subject}`, 'Date: Tue, 02 Jun 2026 10:00:00 +0200',
      'Content-Type: text/plain; charset=utf-8', '', 'SCANNER THORACIQUE SANS INJECTION', 'Indication : toux persistante.', 'Conclusion : nodule de 6 mm du lobe inférieur droit.', '']);
    return execFileSync('openssl', ['cms', '-sign', '-signer', path.join(certs(), `${RADIO}.crt.pem`), '-inkey', path.join(certs(), `${RADIO}.key.pem`),
      '-md', 'sha256', '-from', RADIO, '-to', PAUL, '-subject', subject], { input: inner, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** The pneumologist's message as his client shows it: unsigned. */
  const pneumologistMessage = (): Buffer => Buffer.from(crlf([`From: Dr Sophie Souffle <${PNEUMO}>`, `To: ${PAUL}`, 'Subject: Compte rendu de consultation de pneumologie',
    'Date: Wed, 03 Jun 2026 09:00:00 +0200', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '',
    'Consultation de pneumologie', 'Toux chronique, EFR prévues, fibroscopie bronchique avec biopsies.', '']));

  /** The record server's own view: the HTTPS API with its certificate. */
  function api(p: string): Promise<Answer> {
    return httpsRequest(`https://127.0.0.1:${g.serve.ports.api!}${p}`, {
      servername: 'localhost', ca: g.caPem, agent: false,
      cert: fs.readFileSync(path.join(certs(), `${RMP}.crt.pem`)), key: fs.readFileSync(path.join(certs(), `${RMP}.key.pem`)),
    });
  }

  beforeAll(async () => {
    g = await startConsoleGateway({
      name: 'record-story', domain: DOMAIN, recordServer: RMP,
      accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! },
        { address: JL, kind: 'person', rpps: '10100000041', password: PW[JL]! },
        { address: RADIO, kind: 'person', rpps: '10100000066', password: PW[RADIO]! },
        { address: RMP, kind: 'rmp', password: PW[RMP]! },
      ],
      configure: (yaml) => { yaml.filing = { hprimLabs: { LABOBIO01: BIOLOGIST } }; },
    });
    base = g.base;

    // 1. The replacement's summary comes first.
    await send(JL, { subject: 'Résumé médical', text: resume('2024', 'ramipril 5 mg', 'Dr Jean-Louis Letest, médecin remplaçant du Dr Demo') });
    // 2. The treating doctor's résumé with the hospital report he received; later, one with the radiologist's and the pneumologist's reports.
    await send(PAUL, { subject: 'Résumé médical', text: resume('2025', 'ramipril 5 mg, metformine 1 g', 'Dr Paul Demo'), attachments: [{ filename: 'IHE_XDM.ZIP', content: hospitalXdm(), contentType: 'application/zip' }] });
    await send(PAUL, {
      subject: 'Résumé médical', text: resume('2025', 'ramipril 5 mg, metformine 1 g, tiotropium', 'Dr Paul Demo'),
      attachments: [
        { filename: 'scanner-thoracique.eml', content: signedByRadiologist(), contentType: 'message/rfc822' },
        { filename: 'consultation-pneumologie.eml', content: pneumologistMessage(), contentType: 'message/rfc822' },
      ],
    });
    // 3. ECG and EFR, the lab's results, the histology.
    await send(PAUL, { subject: 'ECG et EFR', text: 'Ci-joint l\'ECG et les EFR du jour.\n', attachments: [
      { filename: 'ECG.pdf', content: ECG_PDF, contentType: 'application/pdf' }, { filename: 'EFR.pdf', content: EFR_PDF, contentType: 'application/pdf' },
    ] });
    await send(PAUL, { subject: 'Résultats du laboratoire', text: fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8') });
    await send(PAUL, { subject: 'Histologie', text: 'Résultat des biopsies bronchiques.\n', attachments: [{ filename: 'histologie.pdf', content: HISTO_PDF, contentType: 'application/pdf' }] });

    const [patient] = JSON.parse((await must(cli('patients', 'search', 'dupont', '--json'), 'search')).stdout) as Array<{ id: string }>;
    patientId = patient!.id;
  }, 240_000);

  afterAll(async () => {
    await g?.stop();
  });

  it('the treating doctor finds his patient by the first letters, and the summary\'s sections are on top: his, not his replacement\'s', async () => {
    const page = await browserLogin(PAUL);
    await page.getByLabel('Premières lettres du nom de famille').fill('du');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    const row = page.getByRole('row', { name: /DUPONT/ });
    await expect.poll(() => row.innerText()).toMatch(/DUPONT\s+Jean\s+30\/01\/1959/);
    await shot(page, 'histoire-recherche');
    await row.getByRole('link', { name: 'DUPONT' }).click();
    await page.waitForURL(`${base}/dossier/${patientId}`);
    // The replacement wrote first; the treating doctor is the one who wrote as himself.
    expect(await page.locator('.identity').innerText()).toMatch(/Médecin traitant : Dr Paul DEMO — paul\.demo@/);
    const top = await page.locator('.summary-top').innerText();
    expect(top).toMatch(/Synthèse en cours[\s\S]*par Dr Paul DEMO/);
    expect(top).toMatch(/Antécédents\s+HTA depuis 2010\s+Diabète de type 2\s+Allergies et intolérances\s+pénicilline\s+Traitement en cours\s+ramipril 5 mg, metformine 1 g, tiotropium\s+Vaccinations\s+DTP 2019, grippe 2025/);
    expect(top).toMatch(/1 synthèse\(s\) remplacée\(s\)/);
    // The signature after a blank line is no part of the last section.
    expect(await page.locator('.summary-top dl').innerText()).not.toContain('Dr Paul Demo');
    expect(await page.locator('main').innerText()).toMatch(/Synthèse en cours[\s\S]*Résumé \(3\)/);
    // The Résumé tab: both of his, the older one replaced; the replacement's beside them, marked.
    const summaries = await page.locator('main').innerText();
    expect(summaries).toMatch(/jl\.letest@[\s\S]*Écrite par un remplaçant/);
    expect(summaries).toMatch(/Historique des synthèses remplacées[\s\S]*paul\.demo@[\s\S]*Remplacée/);
    await shot(page, 'histoire-synthese');
    await page.context().close();
  });

  it('every report sits in its tab, marked with its verified author or its transmitter; the timeline shows each summary with the reports sent with it', async () => {
    const page = await browserLogin(PAUL);
    const tab = async (name: RegExp, key: string): Promise<void> => {
      await page.goto(`${base}/dossier/${patientId}`);
      await page.getByRole('link', { name }).click();
      await page.waitForURL(`${base}/dossier/${patientId}?onglet=${key}`);
    };
    /** The one row of the open tab's document table whose text matches (title, sender, author note, role, signature). */
    const rowOf = async (title: RegExp): Promise<string> => {
      const rows = page.locator('main table').first().locator('tr', { hasText: title });
      expect(await rows.count(), `rows matching ${title}`).toBe(1);
      return rows.innerText();
    };

    await tab(/Comptes rendus \(5\)/, 'reports');
    // The hospital report: its author in the XDM metadata, found in the directory.
    expect(await rowOf(/Compte rendu d.hospitalisation/)).toMatch(new RegExp(`Auteur vérifié : Claire MARTIN <${CARDIOLOGIST.replace(/\./g, '\\.')}>\\s+transmis par ${PAUL.replace(/\./g, '\\.')}`));
    // The pneumologist's forwarded message: named, nothing verifies her, though a GP could write a consultation report.
    expect(await rowOf(/Compte rendu de consultation de pneumologie/)).toContain(`Transmis par ${PAUL}, auteur non vérifié (se dit de ${PNEUMO})`);
    // The histology he attached: no author medgate can verify.
    expect(await rowOf(/histologie/)).toContain(`Transmis par ${PAUL}, auteur non vérifié`);
    // His own ECG and EFR: his, no mark.
    for (const own of [/ECG/, /EFR/]) {
      expect(await rowOf(own)).toContain(PAUL);
      expect(await rowOf(own)).not.toMatch(/Transmis par|Auteur vérifié/);
    }
    await shot(page, 'histoire-comptes-rendus');

    await tab(/Imagerie \(1\)/, 'imaging');
    expect(await rowOf(/Compte rendu de scanner thoracique/)).toMatch(new RegExp(`Auteur vérifié : .*<${RADIO.replace(/\./g, '\\.')}>\\s+transmis par ${PAUL.replace(/\./g, '\\.')}`));
    await tab(/Biologie \(1\)/, 'biology');
    expect(await rowOf(/Résultats du laboratoire/)).toMatch(new RegExp(`Auteur vérifié : Anne BIOLOGISTE <${BIOLOGIST.replace(/\./g, '\\.')}>`));
    await shot(page, 'histoire-biologie');

    await page.goto(`${base}/dossier/${patientId}?vue=chronologie`);
    const withScanner = await page.locator('.timeline ul.sent-together', { hasText: 'scanner thoracique' }).innerText();
    expect(withScanner).toMatch(/Synthèse médicale — Résumé médical/);
    expect(withScanner).toMatch(/Compte rendu de consultation de pneumologie/);
    const withHospital = await page.locator('.timeline ul.sent-together', { hasText: 'hospitalisation' }).innerText();
    expect(withHospital).toMatch(/Synthèse médicale — Résumé médical[\s\S]*Remplacée/);
    await shot(page, 'histoire-chronologie');
    await page.context().close();
  });

  it('the same marks reach the record server\'s HTTPS API and the operator\'s patients show', async () => {
    const [items, show] = await Promise.all([api('/api/v1/items?limit=100'), must(cli('patients', 'show', patientId), 'show')]);
    expect(items.status).toBe(200);
    const list = JSON.parse(items.body) as Array<{ part: string; tab: string; author: { status: string; address?: string }; authorMark: string }>;
    const item = (part: string) => list.find((d) => d.part === part)!;
    expect(item('consultation-pneumologie.eml')).toMatchObject({ tab: 'reports', author: { status: 'unverified' }, authorMark: `transmitted by ${PAUL}, author not verified (names ${PNEUMO})` });
    expect(item('scanner-thoracique.eml')).toMatchObject({ tab: 'imaging', author: { status: 'verified', address: RADIO } });
    expect(item('Document01')).toMatchObject({ tab: 'reports', author: { status: 'verified', address: CARDIOLOGIST } });
    expect(item('histologie.pdf').authorMark).toBe(`transmitted by ${PAUL}, author not verified`);
    expect(show.stdout).toContain(`transmitted by ${PAUL}, author not verified (names ${PNEUMO})`);
    expect(show.stdout).toContain(`treating doctor: ${PAUL} (first summary)`);
    expect(show.stdout).toMatch(/\[written as a replacement\]/);
    expect(show.stdout).not.toContain('PATIENT:');
    accessCode = /access code: (\S+)/.exec(show.stdout)?.[1] ?? '';
    expect(accessCode).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  });

  it('a colleague does not find the patient among his own, and reaches the record with the patient\'s access code', async () => {
    expect(accessCode, 'the previous test read the access code').not.toBe('');
    const page = await browserLogin(RADIO);
    await page.getByLabel('Premières lettres du nom de famille').fill('du');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    expect(await page.locator('main').innerText()).toContain('Aucun de vos patients ne correspond.');
    await page.goto(`${base}/acces`);
    await page.locator('#code-nom').fill('DUPONT');
    await page.locator('#code-prenom').fill('Jean');
    await page.locator('#code-naissance').fill('1959-01-30');
    await page.getByLabel('Code d’accès du patient').fill(accessCode);
    await page.getByRole('button', { name: 'Ouvrir le dossier' }).click();
    await page.waitForURL(`${base}/dossier/${patientId}`);
    expect(await page.locator('.identity').innerText()).toMatch(/DUPONT Jean[\s\S]*Médecin traitant : Dr Paul DEMO[\s\S]*Accès par code patient/);
    expect(await page.locator('.summary-top').innerText()).toMatch(/Antécédents[\s\S]*Vaccinations/);
    await shot(page, 'histoire-acces-code');
    await page.context().close();
  });
});
