/**
 * The record console (issue 14) end to end: a real `medgate serve` with `listen.console`, items filed
 * through SMTP, real Chromium driven by playwright-core for the doctors' flows, then real HTTPS
 * requests for the security properties. One gateway and one browser for the whole file.
 * Screenshots go to test-artifacts/console/ (git-ignored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../src/context.js';
import type { FilingService } from '../../src/filing/filing-service.js';
import { loadConfig } from '../../dist/config/load.js';
import { createContext } from '../../dist/context.js';
import { filingFor } from '../../dist/filing/context.js';
import type { ServeProcess } from '../helpers/gateway.js';
import { httpsRequest, must, startConsoleGateway, type Answer, type ConsoleGateway } from './console-fixture.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const JL = `jl.letest@${DOMAIN}`;
const URG = `urgences@${DOMAIN}`;
const LGC = `lgc@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const PW: Record<string, string> = {
  [PAUL]: 'paul password 123', [JL]: 'jl password 4567', [URG]: 'urgences password 89', [LGC]: 'application secret 789', [RMP]: 'record server secret 0',
};

const HPRIM = [
  'LAB0042817', 'DUPONT', 'Jean', '3 rue des plantes en pot', '', '92160 ANTONY', '30/01/1959', '159018002121980', '2026112301', '23/11/2026',
  'LABOBIO01 Laboratoire Bio-Test Antony', 'DEMOPAUL01 Dr Paul DEMO', 'Compte rendu de biologie médicale',
  'Glycémie à jeun ........ 1,32 g/L   (0,70 - 1,10)  *', '****LAB****',
  'RES|Hémoglobine|HB|N|14.2|g/dL|13.0|17.0||F|||||', 'RES|Glycémie à jeun|GLY|N|1.32|g/L|0.70|1.10|H|F|7.33|mmol/L|3.89|6.11', '****FIN****', '',
].join('\n');

interface AuditRecord { action: string; outcome: string; actor: string; details: Record<string, unknown> }

describe('record console (medgate serve + Chromium)', () => {
  let g: ConsoleGateway;
  let dir: string;
  let serve: ServeProcess;
  let caPem: string;
  let base: string;
  let patientId: string;
  let accessCode: string;
  let labDocId: string;
  let pdfDocId: string;
  let htmlDocId: string;
  let paulCert: { certFile: string; keyFile: string };
  /**
   * A context on the gateway's config beside the serving process, as each operator command makes
   * one: tests read the audit trail and the filed record through its store and filing service
   * (what `medgate audit list` and `patients show` print), without a process start per read.
   */
  let reader: GatewayContext;
  let filing: FilingService;
  const cli = (...args: string[]) => g.cli(...args);
  const audit = async (): Promise<AuditRecord[]> =>
    (await reader.store.audit.list(1, 100_000)).map((r) => JSON.parse(JSON.stringify(r)) as AuditRecord);

  /** One HTTPS request to the console (trusting the test CA), optionally with a client certificate. */
  function request(method: string, p: string, o: { cookie?: string; form?: Record<string, string>; body?: string; type?: string; cert?: { cert: string; key: string } } = {}): Promise<Answer> {
    const body = o.body ?? (o.form ? new URLSearchParams(o.form).toString() : undefined);
    return httpsRequest(`${base}${p}`, {
      method, ca: caPem, servername: 'localhost', ...(o.cert ?? {}),
      headers: {
        ...(o.cookie ? { cookie: o.cookie } : {}),
        ...(body !== undefined ? { 'content-type': o.type ?? 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
      },
    }, body);
  }
  /** Cookies a response sets, as a Cookie header merged over `jar`. */
  const cookiesOf = (a: Answer, jar = ''): string => {
    const map = new Map(jar.split('; ').filter(Boolean).map((kv) => [kv.split('=')[0]!, kv]));
    for (const sc of (a.headers['set-cookie'] as string[] | undefined) ?? []) {
      const kv = sc.split(';')[0]!;
      map.set(kv.split('=')[0]!, kv);
    }
    return [...map.values()].join('; ');
  };
  const csrfOf = (html: string): string => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
  /** A logged-in session over plain HTTPS: its cookie jar and a CSRF token of a page. */
  async function login(user: string): Promise<{ jar: string; csrf: string }> {
    const page = await request('GET', '/connexion');
    let jar = cookiesOf(page);
    const r = await request('POST', '/connexion', { cookie: jar, form: { _csrf: csrfOf(page.body), adresse: user, motdepasse: PW[user]! } });
    expect(r.status).toBe(303);
    jar = cookiesOf(r, jar);
    const search = await request('GET', '/recherche', { cookie: jar });
    expect(search.status).toBe(200);
    return { jar, csrf: csrfOf(search.body) };
  }

  async function submit(from: string, o: { subject: string; text: string; headers?: Record<string, string>; attachments?: Array<{ filename: string; content: Buffer; contentType: string }> }): Promise<void> {
    const raw = await new MailComposer({ from, to: RMP, subject: o.subject, text: o.text, headers: o.headers ?? {}, attachments: o.attachments ?? [] }).compile().build();
    await g.submit(from, Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'));
  }

  async function inboxCount(user: string): Promise<number> {
    const c = new ImapFlow({ host: '127.0.0.1', port: serve.ports.imapTls!, secure: true, logger: false, tls: { ca: caPem, servername: 'localhost' }, auth: { user, pass: PW[user]! } });
    await c.connect();
    try {
      const status = await c.status('INBOX', { messages: true });
      return status.messages ?? 0;
    } finally { await c.logout(); }
  }

  const browserLogin = (user: string): Promise<Page> => g.browserLogin(user);
  const shot = (page: Page, name: string): Promise<Buffer> => g.shot(page, name);

  beforeAll(async () => {
    g = await startConsoleGateway({
      name: 'console', domain: DOMAIN, recordServer: RMP,
      accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! },
        { address: JL, kind: 'person', rpps: '10100000041', password: PW[JL]! },
        { address: URG, kind: 'person', rpps: '10100000066', password: PW[URG]! },
        { address: LGC, kind: 'application', name: 'Laboratoire', password: PW[LGC]! },
        { address: RMP, kind: 'rmp', password: PW[RMP]! },
      ],
      // Room for every test's logins within a minute: the rate-limit test counts the account service's own per-address limit.
      console: { loginAttemptsPerMinute: 60 },
      configure: (yaml) => {
        yaml.filing = { senders: { [LGC]: 'biologist' } };
        // Few failures before the address is refused, and no waiting: the rate-limit test stays fast.
        yaml.security = { ...yaml.security, loginLimits: { maxFailuresPerAddress: 6, windowSeconds: 900, slowAfterFailures: 1000, delayMs: 0, maxDelayMs: 0 } };
      },
    });
    ({ dir, serve, caPem, base } = g);
    paulCert = g.prepared.accounts[PAUL]!;
    expect(serve.ports.console).toBeGreaterThan(0);
    await submit(LGC, {
      subject: 'Résultats de biologie', text: HPRIM,
      attachments: [
        { filename: 'resultats.pdf', content: Buffer.from('%PDF-1.4\n% synthetic\n%%EOF\n'), contentType: 'application/pdf' },
        { filename: 'notes.html', content: Buffer.from('<html><body><script>alert(1)</script></body></html>'), contentType: 'text/html' },
      ],
    });
    await submit(PAUL, { subject: 'Synthèse médicale', text: 'Volet de synthèse médicale : HTA, diabète de type 2.\n', headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' } });
    // A newer summary from the same doctor supersedes the first: history under the current one.
    await submit(PAUL, { subject: 'Synthèse médicale mise à jour', text: 'Volet de synthèse médicale : HTA, diabète de type 2, insuline.\n', headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' } });
    reader = (await createContext(loadConfig(g.config), { logDestination: { write: () => undefined } })) as GatewayContext;
    filing = (await filingFor(reader as never)) as FilingService;
    const found = await filing.search('dup');
    expect(found).toHaveLength(1);
    patientId = found[0]!.id;
    const show = await filing.show(patientId);
    expect(show.treatingDoctor).toBe(PAUL);
    accessCode = show.accessCode;
    const filed = Object.values(show.tabs).flat();
    labDocId = show.tabs.biology!.find((x) => x.part === 'body')!.id;
    pdfDocId = filed.find((x) => x.part === 'resultats.pdf')!.id;
    htmlDocId = filed.find((x) => x.part === 'notes.html')!.id;
  }, 180_000);

  afterAll(async () => {
    await reader?.close();
    await g?.stop();
  });

  it('the treating doctor finds DUPONT by DUP, sees Biologie and Résumé, reads the lab result and has it sent to their INBOX', async () => {
    const page = await browserLogin(PAUL);
    await page.getByLabel('Premières lettres du nom de famille').fill('dup');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    // Letters travel in the POST body: the URL stays /recherche.
    expect(page.url()).toBe(`${base}/recherche`);
    const row = page.getByRole('row', { name: /DUPONT/ });
    await expect.poll(() => row.innerText()).toMatch(/DUPONT\s+Jean\s+30\/01\/1959/);
    await shot(page, 'recherche');
    await row.getByRole('link', { name: 'DUPONT' }).click();
    await page.waitForURL(`${base}/dossier/${patientId}`);
    expect(await page.locator('.identity').innerText()).toMatch(/DUPONT Jean[\s\S]*30\/01\/1959[\s\S]*Médecin traitant : Dr Paul DEMO — paul\.demo@/);
    expect(await page.locator('.tabs').innerText()).toMatch(/Résumé \(2\)[\s\S]*Biologie \(\d\)/);
    const [currentTable, historyTable] = await page.locator('main table').all();
    expect(await currentTable!.innerText()).toMatch(/Synthèse médicale[\s\S]*mise à jour[\s\S]*paul\.demo@[\s\S]*Médecin généraliste[\s\S]*Signature vérifiée/);
    expect(await page.locator('main h4').innerText()).toBe('Historique des synthèses remplacées');
    expect(await historyTable!.innerText()).toMatch(/Synthèse médicale[\s\S]*Remplacée/);
    await page.getByRole('link', { name: /Biologie \(\d\)/ }).click();
    await page.waitForURL(`${base}/dossier/${patientId}?onglet=biology`);
    expect(await page.locator('main table').innerText()).toMatch(/Résultat de biologie[\s\S]*lgc@[\s\S]*Biologiste/);
    await shot(page, 'dossier');
    await page.locator(`a[href="/document/${labDocId}"]`).click();
    await page.waitForURL(`${base}/document/${labDocId}`);
    const results = await page.locator('main table').innerText();
    expect(results).toMatch(/Glycémie à jeun\s+1\.32\s+g\/L\s+0\.70 – 1\.10\s+Haut/);
    expect(await page.locator('pre.document').innerText()).toContain('Compte rendu de biologie médicale');
    await shot(page, 'document');
    const before = await inboxCount(PAUL);
    await page.getByRole('button', { name: /M’envoyer ce document/ }).click();
    await expect.poll(() => page.locator('main').innerText()).toMatch(/1 document \(1 message\) envoyé à votre messagerie sécurisée/);
    expect(await inboxCount(PAUL)).toBe(before + 1);
    // Logout ends the session: the record is no longer reachable with the same cookie.
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await page.goto(`${base}/dossier/${patientId}`);
    expect(page.url()).toBe(`${base}/connexion`);
    await page.context().close();
  });

  it('a second doctor does not find the patient, is refused without the code, refused with a wrong code and let in with it', async () => {
    const page = await browserLogin(JL);
    await page.getByLabel('Premières lettres du nom de famille').fill('DUP');
    await page.getByRole('button', { name: 'Rechercher' }).click();
    expect(await page.locator('main').innerText()).toContain('Aucun de vos patients ne correspond.');
    const denied = await page.goto(`${base}/dossier/${patientId}`);
    expect(denied!.status()).toBe(403);
    expect(await page.locator('main').innerText()).toMatch(/code d’accès/);
    const fill = async (code: string): Promise<void> => {
      await page.goto(`${base}/acces`);
      await page.locator('#code-nom').fill('Dupont');
      await page.locator('#code-prenom').fill('jean');
      await page.locator('#code-naissance').fill('1959-01-30');
      await page.getByLabel('Code d’accès du patient').fill(code);
      await page.getByRole('button', { name: 'Ouvrir le dossier' }).click();
    };
    await fill('AAAA-BBBB-CCCC');
    expect(await page.locator('main').innerText()).toContain('Identité ou code d’accès incorrect.');
    await fill(accessCode.toLowerCase());
    await page.waitForURL(`${base}/dossier/${patientId}`);
    expect(await page.locator('.identity').innerText()).toMatch(/DUPONT Jean[\s\S]*Accès par code patient/);
    await page.context().close();
    const consent = (await audit()).filter((a) => a.action === 'console.consent');
    expect(consent.map((a) => `${a.actor} ${a.outcome}`)).toEqual([`${JL} refused`, `${JL} ok`]);
  });

  it('a third doctor uses emergency access with a reason; it is audited and listed for the treating doctor and by patients emergencies', async () => {
    const page = await browserLogin(URG);
    await page.goto(`${base}/acces`);
    await page.locator('#urgence-nom').fill('DUPONT');
    await page.locator('#urgence-prenom').fill('Jean');
    await page.locator('#urgence-naissance').fill('1959-01-30');
    await page.getByLabel('Motif de l’accès d’urgence').fill('Patient inconscient aux urgences, traitement inconnu');
    await page.getByRole('button', { name: 'Accéder en urgence' }).click();
    await page.waitForURL(`${base}/dossier/${patientId}`);
    expect(await page.locator('.identity').innerText()).toMatch(/Accès d’urgence — tracé, à justifier/);
    await page.context().close();
    // The operator's listing (a process start) runs while the treating doctor looks at his.
    const listing = must(cli('patients', 'emergencies'), 'emergencies');

    const paul = await browserLogin(PAUL);
    await paul.goto(`${base}/urgences`);
    expect(await paul.locator('main table').innerText()).toMatch(/urgences@[\s\S]*DUPONT Jean[\s\S]*Patient inconscient aux urgences[\s\S]*Consulté en ligne/);
    await shot(paul, 'urgences');
    await paul.context().close();
    const cliList = await listing;
    expect(cliList.stdout).toMatch(new RegExp(`${URG}\\s+patient ${patientId}\\s+viewed\\s+reason: Patient inconscient`));
    const rec = (await audit()).find((a) => a.action === 'console.emergency')!;
    expect(rec).toMatchObject({ actor: URG, outcome: 'ok', details: { patientId, emergency: true } });
    expect(JSON.stringify(rec)).not.toMatch(/inconscient/);
  });

  it('the summary on top: its sections, date and author first; a timeline of each date with the summary and the reports sent with it; a replacement does not take the treating doctor', async () => {
    const tag = 'PATIENT: DUPONT Jean 30/01/1959';
    const resume = 'Résumé médical\n\nAntécédents : HTA depuis 2010\nDiabète de type 2\nAllergies et intolérances : pénicilline\nTraitement en cours : ramipril 5 mg, metformine 1 g\nVaccinations : DTP 2019, grippe 2025\n';
    await submit(PAUL, {
      subject: `${tag} Résumé médical`, text: resume,
      attachments: [
        { filename: 'ECG.pdf', content: Buffer.from('%PDF-1.4\n% ECG\n%%EOF\n'), contentType: 'application/pdf' },
        // A pathologist's report he forwards: no author medgate can verify.
        { filename: 'histologie.pdf', content: Buffer.from('%PDF-1.4\n% histologie\n%%EOF\n'), contentType: 'application/pdf' },
      ],
    });
    // The replacement's résumé is filed, without superseding the treating doctor's.
    await submit(JL, { subject: `${tag} Résumé médical`, text: 'Résumé médical\nAntécédents : HTA\nAllergies : aucune connue\n' });
    const show = await filing.show(patientId);
    expect(show.treatingDoctor).toBe(PAUL);
    expect(show.tabs.summary!.filter((d) => !d.supersededBy).map((d) => d.sender).sort()).toEqual([JL, PAUL].sort());
    expect(show.tabs.summary!.every((d) => !d.title?.includes('PATIENT'))).toBe(true);

    const page = await browserLogin(PAUL);
    await page.goto(`${base}/dossier/${patientId}`);
    const top = page.locator('.summary-top');
    const text = await top.innerText();
    // The treating doctor's summary, not the replacement's; its sections in order.
    expect(text).toMatch(/Synthèse en cours[\s\S]*par Dr Paul DEMO/);
    expect(text).toMatch(/Antécédents\s+HTA depuis 2010\s+Diabète de type 2\s+Allergies et intolérances\s+pénicilline\s+Traitement en cours\s+ramipril 5 mg, metformine 1 g\s+Vaccinations\s+DTP 2019, grippe 2025/);
    expect(text).toMatch(/synthèse\(s\) remplacée\(s\)/);
    // On top: before the tabs.
    expect(await page.locator('main').innerText()).toMatch(/Synthèse en cours[\s\S]*Résumé \(\d\)/);
    await shot(page, 'synthese');
    await page.getByRole('link', { name: 'Chronologie' }).click();
    await page.waitForURL(`${base}/dossier/${patientId}?vue=chronologie`);
    const sentTogether = page.locator('.timeline ul.sent-together', { hasText: 'ECG' });
    expect(await sentTogether.innerText()).toMatch(/Synthèse médicale — Résumé médical[\s\S]*Compte rendu d’examen — ECG|Synthèse médicale — Résumé médical[\s\S]*Compte rendu d'examen — ECG/);
    expect(await page.locator('.timeline > li').count()).toBeGreaterThanOrEqual(1);
    await shot(page, 'chronologie');
    // Each report in its tab, marked with its author or its transmitter.
    await page.getByRole('link', { name: /Comptes rendus \(\d\)/ }).click();
    const reports = await page.locator('main table').first().innerText();
    expect(reports).toMatch(/Compte rendu d’anatomie et de cytologie pathologiques|Compte rendu d'anatomie et de cytologie pathologiques/);
    expect(reports).toContain('Transmis par paul.demo@cabinet-antony.medgate.test, auteur non vérifié');
    expect(reports).toMatch(/Compte rendu d.examen[\s\S]*ECG/);
    await page.context().close();
  });

  it('headers: CSP without inline script or style, no-store, and the session cookie HttpOnly; Secure; SameSite=Strict', async () => {
    const page = await request('GET', '/connexion');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'none'/);
    expect(csp).toMatch(/style-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).not.toMatch(/<script|style=/);
    const r = await request('POST', '/connexion', { cookie: cookiesOf(page), form: { _csrf: csrfOf(page.body), adresse: PAUL, motdepasse: PW[PAUL]! } });
    const session = ((r.headers['set-cookie'] as string[]) ?? []).find((c) => c.startsWith('__Host-medgate='))!;
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; Secure/);
    expect(session).toMatch(/; SameSite=Strict/);
    expect(session).toMatch(/; Path=\//);
  });

  it('CSRF: a state change without the token, with a forged one or with another session\'s token is refused 403', async () => {
    const a = await login(PAUL);
    const b = await login(JL);
    for (const token of [undefined, 'forged-token', b.csrf]) {
      const r = await request('POST', '/recherche', { cookie: a.jar, form: { ...(token ? { _csrf: token } : {}), nom: 'DUP' } });
      expect(r.status).toBe(403);
      expect(r.body).toContain('Formulaire expiré');
      expect(r.body).not.toContain('DUPONT');
    }
    // A login form posted without the CSRF cookie (cross-site) is refused too.
    expect((await request('POST', '/connexion', { form: { _csrf: 'x', adresse: PAUL, motdepasse: PW[PAUL]! } })).status).toBe(403);
    expect((await request('POST', '/recherche', { cookie: a.jar, form: { _csrf: a.csrf, nom: 'DUP' } })).status).toBe(200);
  });

  it('bad input: another doctor\'s document, unknown ids, path tricks, script in search, oversized bodies: French page + 4xx, nothing reflected', async () => {
    const jl = await login(JL); // a fresh session: no access code given in it
    const paul = await login(PAUL);
    const other = await request('GET', `/document/${labDocId}`, { cookie: jl.jar });
    const unknown = await request('GET', '/document/00000000-0000-4000-8000-000000000000', { cookie: jl.jar });
    expect(other.status).toBe(403);
    expect(unknown.status).toBe(403);
    // The same page whether the document exists or not: nothing tells a doctor without access.
    const strip = (h: string) => h.replace(/name="_csrf" value="[^"]+"/g, '');
    expect(strip(other.body)).toBe(strip(unknown.body));
    expect(other.body).not.toMatch(/DUPONT|Glycémie/);
    expect((await request('GET', `/document/${labDocId}/contenu`, { cookie: jl.jar })).status).toBe(403);
    expect((await request('GET', `/dossier/${patientId}`, { cookie: jl.jar })).status).toBe(403);
    expect((await request('GET', '/dossier/P0000000000000000', { cookie: jl.jar })).status).toBe(403);
    const send = await request('POST', '/envoyer', { cookie: jl.jar, form: { _csrf: jl.csrf, patient: patientId, documents: labDocId } });
    expect(send.status).toBe(403);
    for (const p of ['/dossier/..%2F..%2Fetc%2Fpasswd', '/document/..%2f..%2fmedgate.db/contenu', '/static/..%2F..%2Fpackage.json', '/%2e%2e/%2e%2e/etc/passwd', '/dossier/%3Cscript%3E']) {
      const r = await request('GET', p, { cookie: paul.jar });
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(r.status, p).toBeLessThan(500);
      expect(r.body, p).not.toMatch(/<script|passwd|medgate\.db|package\.json/i);
    }
    const script = await request('POST', '/recherche', { cookie: paul.jar, form: { _csrf: paul.csrf, nom: '<script>alert(1)</script>' } });
    expect(script.status).toBe(400);
    expect(script.body).toContain('Le nom ne peut contenir que des lettres');
    expect(script.body).not.toMatch(/<script|alert\(1\)/);
    const big = await request('POST', '/recherche', { cookie: paul.jar, form: { _csrf: paul.csrf, nom: 'D'.repeat(64 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body).toContain('Formulaire trop volumineux');
    const json = await request('POST', '/recherche', { cookie: paul.jar, body: '{"nom":"DUP"}', type: 'application/json' });
    expect(json.status).toBe(415);
    expect(json.body).toContain('Format non accepté');
    const notFound = await request('GET', '/nulle-part?q=<b>x</b>', { cookie: paul.jar });
    expect(notFound.status).toBe(404);
    expect(notFound.body).toContain('Page introuvable');
    expect(notFound.body).not.toContain('<b>x');
  });

  it('the record is served with no-store, and the content route decrypts for the response only', async () => {
    const paul = await login(PAUL);
    const r = await request('GET', `/document/${labDocId}/contenu`, { cookie: paul.jar });
    expect(r.status).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toContain('RES|Glycémie à jeun');
    // PDF inline (framed by the document page), any other type only as a download: never rendered in the console's origin.
    const pdf = await request('GET', `/document/${pdfDocId}/contenu`, { cookie: paul.jar });
    expect(pdf.headers['content-type']).toBe('application/pdf');
    expect(pdf.headers['content-disposition']).toMatch(/^inline; filename="resultats\.pdf"/);
    expect((await request('GET', `/document/${pdfDocId}`, { cookie: paul.jar })).body).toContain(`<iframe class="document" src="/document/${pdfDocId}/contenu"`);
    const htmlDoc = await request('GET', `/document/${htmlDocId}/contenu`, { cookie: paul.jar });
    expect(htmlDoc.headers['content-type']).toBe('application/octet-stream');
    expect(htmlDoc.headers['content-disposition']).toMatch(/^attachment; filename="notes\.html"/);
    expect((await request('GET', `/document/${htmlDocId}`, { cookie: paul.jar })).body).toContain('Télécharger le document');
    const views = (await audit()).filter((a) => a.action === 'console.view');
    expect(views.some((a) => a.actor === PAUL && a.details.documentId === labDocId && a.details.patientId === patientId)).toBe(true);
    expect(JSON.stringify(views)).not.toMatch(/DUPONT|Glycémie/);
  });

  it('a doctor\'s certificate from the health PKI logs them in', async () => {
    const cert = { cert: fs.readFileSync(paulCert.certFile, 'utf8'), key: fs.readFileSync(paulCert.keyFile, 'utf8') };
    const page = await request('GET', '/connexion', { cert });
    expect(page.body).toContain('Se connecter avec ce certificat');
    const r = await request('POST', '/connexion/certificat', { cert, cookie: cookiesOf(page), form: { _csrf: csrfOf(page.body) } });
    expect(r.status).toBe(303);
    const search = await request('GET', '/recherche', { cookie: cookiesOf(r, cookiesOf(page)), cert });
    expect(search.status).toBe(200);
    expect(search.body).toContain(PAUL);
    // Without a certificate the same button is refused.
    const plain = await request('GET', '/connexion');
    expect((await request('POST', '/connexion/certificat', { cookie: cookiesOf(plain), form: { _csrf: csrfOf(plain.body) } })).status).toBe(401);
  });

  it('search letters never reach a URL, the logs or the audit trail', async () => {
    const paul = await login(PAUL);
    expect((await request('POST', '/recherche', { cookie: paul.jar, form: { _csrf: paul.csrf, nom: 'Dupon' } })).status).toBe(200);
    const records = await audit();
    expect(records.filter((a) => a.action === 'console.search').length).toBeGreaterThanOrEqual(3);
    const all = JSON.stringify(records) + serve.logs.join('\n') + serve.stderr.join('');
    expect(all).not.toMatch(/dupon|DUPON|"dup"|=dup|=DUP/i);
  });

  it('a document that cannot be opened gets a page saying what to do, and the log names its message id and the decision, never the patient', async () => {
    // With a scan above 1 MiB: received through the spool, its sealed item kept as a file beside
    // the database (src/store/files), which a disk fault can damage as well as a row.
    await submit(PAUL, {
      subject: 'Courrier au confrère', text: 'Cher confrère, je vous adresse ce patient.\n', headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' },
      attachments: [{ filename: 'scan.pdf', content: Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(1_200_000, 0x20), Buffer.from('\n%%EOF\n')]), contentType: 'application/pdf' }],
    });
    const show = await filing.show(patientId);
    const letter = show.tabs.letters!.find((d) => d.title === 'Courrier au confrère')!;
    // The sealed item is damaged in the store (a disk fault, a bad restore): it no longer opens.
    const file = path.join(dir, 'data', 'blobs', letter.blobId.slice(0, 2), letter.blobId);
    expect(fs.statSync(file).size).toBeGreaterThan(1_000_000);
    fs.writeFileSync(file, 'not a sealed message\r\n\r\n');
    const paul = await login(PAUL);
    const page = await request('GET', `/document/${letter.id}`, { cookie: paul.jar });
    expect(page.status).toBe(502);
    expect(page.body).toContain('Document illisible');
    expect(page.body).toContain('Demandez-en l’envoi par messagerie sécurisée, ou signalez-le à l’opérateur');
    expect((await request('GET', `/document/${letter.id}/contenu`, { cookie: paul.jar })).status).toBe(502);
    // The serve process's log lines come through a pipe: they may arrive after the responses.
    const unreadableLines = (): string[] => serve.logs.filter((l) => l.includes('console: document could not be opened'));
    await expect.poll(() => unreadableLines().length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    const logged = unreadableLines();
    expect(logged[0]).toContain(JSON.stringify(letter.messageId).slice(1, -1));
    expect(logged[0]).toContain('"decision":"unreadable"');
    expect(logged.join('\n')).not.toMatch(/DUPONT|Jean|confrère/);
    // The record itself still opens.
    expect((await request('GET', `/dossier/${patientId}?onglet=letters`, { cookie: paul.jar })).status).toBe(200);
  });

  it('failed logins are rate-limited with the account service\'s per-address limit, and audited', async () => {
    let last: Answer | undefined;
    for (let i = 0; i < 8; i++) {
      const page = await request('GET', '/connexion');
      last = await request('POST', '/connexion', { cookie: cookiesOf(page), form: { _csrf: csrfOf(page.body), adresse: JL, motdepasse: 'wrong password ' + i } });
      if (last.status === 429) break;
      expect(last.status).toBe(401);
      expect(last.body).toContain('Adresse ou mot de passe incorrect.');
    }
    expect(last!.status).toBe(429);
    expect(last!.body).toContain('Trop de tentatives');
    // The right password now gets the same answer.
    const page = await request('GET', '/connexion');
    expect((await request('POST', '/connexion', { cookie: cookiesOf(page), form: { _csrf: csrfOf(page.body), adresse: JL, motdepasse: PW[JL]! } })).status).toBe(429);
    const refused = (await audit()).filter((a) => a.action === 'auth.login' && a.outcome === 'refused' && a.details.via === 'console');
    expect(refused.some((a) => a.details.reason === 'wrong-password')).toBe(true);
    expect(refused.some((a) => a.details.reason === 'address-rate-limited')).toBe(true);
  });
});
