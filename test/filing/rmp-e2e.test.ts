/**
 * End to end on a real `medgate serve`: mail submitted over SMTP to the record-server account is
 * filed by the gateway (filing store), fetched by `medgate rmp pull` over IMAP and filed from the
 * clear route fields only; exported, and re-imported into a fresh gateway.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, SAMPLES, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const LGC = `lgc@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [LGC]: 'application secret 789', [RMP]: 'record server secret 0' };
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

async function build(o: { from: string; subject: string; text: string; headers?: Record<string, string>; attachments?: Array<{ filename: string; content: Buffer; contentType: string }> }): Promise<Buffer> {
  const raw = await new MailComposer({ from: o.from, to: RMP, subject: o.subject, text: o.text, headers: o.headers ?? {}, attachments: o.attachments ?? [] }).compile().build();
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

const patientHeaders = (nom: string, prenom: string, naissance: string) => ({ 'X-Medgate-Patient-Nom': nom, 'X-Medgate-Patient-Prenom': prenom, 'X-Medgate-Patient-Naissance': naissance });

describe('record server filing end to end (medgate serve, SMTP, IMAP, rmp pull, export/import)', () => {
  let dir: string;
  let config: string;
  let serve: ServeProcess;
  let caPem: string;
  const cli = (...args: string[]) => runCli([...args, '--config', config]);

  async function submit(from: string, raw: Buffer): Promise<void> {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: serve.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: from, pass: PW[from]! }, tls: { ca: caPem, servername: 'localhost' },
    });
    await t.sendMail({ envelope: { from, to: [RMP] }, raw });
  }
  const pull = (out: string) => must(runCli(['rmp', 'pull', '--host', '127.0.0.1', '--port', String(serve.ports.imap), '--user', RMP,
    '--password', PW[RMP]!, '--out', out, '--ca', path.join(dir, 'certs', 'ca.pem')]), 'rmp pull');

  beforeAll(async () => {
    dir = tempDir('medgate-filing-e2e-');
    // Set up through the services, in this process (what `medgate init`, `directory import` and
    // `user add` do, without a node start each); the gateway under test is a real `medgate serve`.
    const prepared = await prepareForServe({
      store: 'sqlite', dir, domain: DOMAIN, whitelist: false,
      extra: { filing: { senders: { [LGC]: 'biologist' } } },
      accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! },
        { address: LGC, kind: 'application', name: 'Laboratoire', password: PW[LGC]! },
        { address: RMP, kind: 'rmp', password: PW[RMP]! },
      ],
    });
    config = prepared.configFile;
    caPem = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
    serve = await startServe(config);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('files submitted items per patient and tab; rmp pull files them from the clear headers, resumes without duplicates', async () => {
    const hprim = fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8');
    await submit(LGC, await build({
      from: LGC, subject: 'Résultats de biologie', text: hprim,
      attachments: [{ filename: 'resultats.pdf', content: Buffer.from('%PDF-1.4\n% synthetic\n%%EOF\n'), contentType: 'application/pdf' }],
    }));
    await submit(PAUL, await build({ from: PAUL, subject: 'Synthèse médicale', text: 'Volet de synthèse médicale.\n', headers: patientHeaders('DUPONT', 'Jean', '30/01/1959') }));
    await submit(PAUL, await build({ from: PAUL, subject: 'Courrier', text: 'Autre patient, même nom.\n', headers: patientHeaders('Dupont', 'Jean', '05/05/1962') }));
    await submit(PAUL, await build({ from: PAUL, subject: 'Courrier', text: 'Prénom différent.\n', headers: patientHeaders('DUPONT', 'Jeanne', '30/01/1959') }));

    // The gateway's own filing store (independent reads run together).
    const [searched, rec, auditListed] = await Promise.all([
      must(cli('patients', 'search', 'dup', '--json'), 'search'),
      must(cli('patients', 'reconcile', 'list'), 'reconcile list'),
      must(cli('audit', 'list', '--limit', '1000'), 'audit'),
    ]);
    const search = JSON.parse(searched.stdout) as Array<{ id: string; status: string; identity: { givenName: string; birthDate: string } }>;
    expect(search).toHaveLength(3);
    const jean = search.find((p) => p.identity.givenName === 'Jean' && p.identity.birthDate === '1959-01-30')!;
    expect(jean.status).toBe('active');
    expect(search.find((p) => p.identity.birthDate === '1962-05-05')!.status).toBe('active');
    expect(search.find((p) => p.identity.givenName === 'Jeanne')!.status).toBe('reconcile');
    const [shown, showText] = await Promise.all([must(cli('patients', 'show', jean.id, '--json'), 'show'), must(cli('patients', 'show', jean.id), 'show text')]);
    const show = JSON.parse(shown.stdout) as { tabs: Record<string, Array<{ part: string; sender: string }>>; treatingDoctor: string };
    expect(show.tabs.biology!.map((d) => d.part).sort()).toEqual(['body', 'resultats.pdf']);
    expect(show.tabs.summary!.map((d) => d.sender)).toEqual([PAUL]);
    expect(show.treatingDoctor).toBe(PAUL);
    expect(rec.stdout).toMatch(/given-name-differs/);
    // Audited with the match outcome, never with names.
    const audit = auditListed.stdout;
    const records = audit.trim().split('\n').map((l) => JSON.parse(l) as { action: string; details: { match?: string } });
    const ingests = records.filter((a) => a.action === 'filing.ingest');
    expect(ingests.map((a) => a.details.match).sort()).toEqual(['matched', 'new', 'new', 'reconcile']);
    expect(audit).not.toMatch(/DUPONT|Dupont|1959-01-30/);
    expect(showText.stdout).toMatch(/^biology \(2\)$/m);

    // The reference ingester over IMAP.
    const out = path.join(dir, 'rmp-tree');
    const first = await pull(out);
    expect(first.stdout).toMatch(/filed 4, unfiled 0, already filed 0/);
    const files = (await fs.promises.readdir(out, { recursive: true })).filter((f) => String(f).endsWith('.eml')).map(String).sort();
    expect(files).toHaveLength(4);
    const jeanFolder = files.filter((f) => f.startsWith('DUPONT_JEAN_19590130/') || /^INS-/.test(f));
    expect(jeanFolder.some((f) => f.includes('/biology/'))).toBe(true);
    expect(jeanFolder.some((f) => f.includes('/summary/'))).toBe(true);
    expect(files.some((f) => f.startsWith('DUPONT_JEAN_19620505/letters/'))).toBe(true);
    expect(files.some((f) => f.startsWith('DUPONT_JEANNE_19590130/'))).toBe(true);
    for (const f of files) {
      const eml = fs.readFileSync(path.join(out, f)).toString('latin1');
      expect(eml).toMatch(/^X-Medgate-Route-/m);
      expect(eml).toContain('multipart/encrypted');
      expect(eml).not.toContain('Hémoglobine');
      expect(eml).not.toContain('Volet de synth');
    }
    const again = await pull(out);
    expect(again.stdout).toMatch(/filed 0, unfiled 0, already filed 0/);
    await submit(PAUL, await build({ from: PAUL, subject: 'Synthèse médicale', text: 'Volet de synthèse médicale mis à jour.\n', headers: patientHeaders('DUPONT', 'Jean', '30/01/1959') }));
    const third = await pull(out);
    expect(third.stdout).toMatch(/filed 1, unfiled 0, already filed 0/);
    const state = JSON.parse(fs.readFileSync(path.join(out, '.rmp-state.json'), 'utf8')) as { lastUid: number; filed: string[] };
    expect(state.lastUid).toBe(5);
    expect(state.filed).toHaveLength(5);
    // Supersede: the second summary from the treating doctor replaces the first, history kept.
    const after = JSON.parse((await must(cli('patients', 'show', jean.id, '--json'), 'show')).stdout) as { tabs: Record<string, Array<{ supersededBy: string | null }>> };
    expect(after.tabs.summary!).toHaveLength(2);
    expect(after.tabs.summary!.filter((d) => d.supersededBy === null)).toHaveLength(1);
  }, 120_000);

  it('the rights matrix refuses a GP authoring a biology result for the record server, at SMTP time, and audits it', async () => {
    // Typed by the GP himself: no lab's HPRIM header, no XDM author. (A lab's report he forwards is
    // judged by its author: test/filing/authors-e2e.test.ts.)
    const raw = await build({ from: PAUL, subject: 'Résultats', text: 'Résultats de biologie\nHémoglobine 14,2 g/dL\n', headers: patientHeaders('DUPONT', 'Jean', '30/01/1959') });
    const err = await submit(PAUL, raw).then(() => undefined, (e: { responseCode?: number; response?: string }) => e);
    expect(err?.responseCode).toBe(550);
    expect(err?.response).toMatch(/^550 5\.7\.1 Refused by the shared-record rights matrix \(role general-practitioner\): a general practitioner cannot author a biology report in a shared record; forward the laboratory.s own report instead/);
    const audit = (await cli('audit', 'list', '--limit', '100000')).stdout;
    expect(audit).toMatch(/"reason":"rights-refused"/);
  });

  it('exports and re-imports into a fresh gateway: dry-run report, same patients, same document hashes; encrypted archive too', async () => {
    const exp = path.join(dir, 'export');
    const fresh = tempDir('medgate-filing-fresh-');
    let freshConfig = '';
    const fcli = (...args: string[]) => runCli([...args, '--config', freshConfig]);
    // The fresh gateway (initialised in this process, as `medgate init` does) and the encrypted
    // export do not depend on the export: they are made beside it.
    const freshReady = (async () => {
      freshConfig = (await prepareForServe({ store: 'sqlite', dir: fresh, domain: 'rmp-hdf.medgate.test', directory: false, whitelist: false })).configFile;
    })();
    const encOut = path.join(dir, 'export-enc');
    const encExported = must(cli('patients', 'export', '--all', '--out', encOut, '--passphrase', 'correct horse battery'), 'export encrypted');
    freshReady.catch(() => undefined);
    encExported.catch(() => undefined);
    const r = await must(cli('patients', 'export', '--all', '--out', exp), 'export');
    expect(r.stdout).toMatch(/exported 3 patient\(s\), 6 document\(s\)/);
    const folders = fs.readdirSync(exp).sort();
    expect(folders).toHaveLength(3);
    const xml = fs.readFileSync(path.join(exp, folders[0]!, 'export.xml'), 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    const hashesOf = (root: string) => fs.readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.eml'))
      .map((f) => sha256(fs.readFileSync(path.join(root, f)))).sort();

    try {
      await freshReady;
      // A tampered document is rejected by the dry run.
      const tampered = path.join(dir, 'export-tampered');
      fs.cpSync(exp, tampered, { recursive: true });
      const victim = fs.readdirSync(tampered, { recursive: true }).map(String).find((f) => f.endsWith('.eml'))!;
      fs.appendFileSync(path.join(tampered, victim), 'x');
      // Dry runs write nothing: the two, and the search that shows it, run together.
      const [dry, searchedFresh, bad] = await Promise.all([
        must(fcli('patients', 'import', exp, '--dry-run', '--json'), 'dry run'),
        must(fcli('patients', 'search', 'd', '--json'), 'search'),
        must(fcli('patients', 'import', tampered, '--dry-run'), 'dry run tampered'),
      ]);
      const report = JSON.parse(dry.stdout) as { totals: Record<string, number> };
      expect(report.totals).toEqual({ created: 3, matched: 0, reconcile: 0, rejected: 0, documents: 6, documentsRejected: 0 });
      expect(JSON.parse(searchedFresh.stdout)).toEqual([]);
      expect(bad.stdout).toMatch(/rejected .*\.eml: SHA-256 differs/);

      const imported = JSON.parse((await must(fcli('patients', 'import', exp, '--json'), 'import')).stdout) as { patients: Array<{ unverified?: number }> };
      // export.xml says verified="true", but this gateway cannot open the routing headers (they were
      // sealed to the other gateway's filing key) nor check the signers: imported as unverified.
      expect(xml).toMatch(/verified="true"/);
      expect(imported.patients.reduce((n, p) => n + (p.unverified ?? 0), 0)).toBe(6);
      const exp2 = path.join(fresh, 'export2');
      await must(fcli('patients', 'export', '--all', '--out', exp2), 'export again');
      expect(fs.readdirSync(exp2).sort()).toEqual(folders);
      expect(hashesOf(exp2)).toEqual(hashesOf(exp));
      const xml2 = fs.readdirSync(exp2).map((f) => fs.readFileSync(path.join(exp2, f, 'export.xml'), 'utf8')).join('');
      expect(xml2).toMatch(/verified="false"/);
      expect(xml2).not.toMatch(/verified="true"/);
      const again = JSON.parse((await must(fcli('patients', 'import', exp, '--json'), 'import again')).stdout) as { totals: Record<string, number> };
      expect(again.totals).toMatchObject({ created: 0, matched: 3, documents: 0 });

      // Encrypted archive: no clear file, wrong passphrase refused, right one imports.
      await encExported;
      expect(fs.readdirSync(encOut)).toEqual(['medgate-export.zip.pgp']);
      const archive = path.join(encOut, 'medgate-export.zip.pgp');
      expect(fs.readFileSync(archive).includes(Buffer.from('DUPONT'))).toBe(false);
      const [wrong, encDryRun] = await Promise.all([
        fcli('patients', 'import', archive, '--passphrase', 'wrong', '--dry-run'),
        must(fcli('patients', 'import', archive, '--passphrase', 'correct horse battery', '--dry-run', '--json'), 'enc dry'),
      ]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/wrong passphrase/);
      const encDry = JSON.parse(encDryRun.stdout) as { totals: Record<string, number> };
      expect(encDry.totals).toMatchObject({ matched: 3, rejected: 0, documentsRejected: 0 });
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  }, 120_000);
});
