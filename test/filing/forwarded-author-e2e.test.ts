/**
 * The third verified-author case (issue 30, item 2): a doctor forwards "as attachment" a message
 * (message/rfc822) someone else signed. The sealing gateway verifies its S/MIME signature (chain to
 * the test CA, CRL, From in the certificate), the judging gateway requires the signer in its
 * directory: the document is filed under the signer, whose rights are checked. A signature that does
 * not verify, a signer no longer in the directory, or no signature at all: filed "transmitted by
 * Dr X, author not verified", not refused — even when the forwarding doctor could author the type.
 *
 * Real parts: `medgate serve`, nodemailer submitting as the GP, `openssl cms -sign` signing as the
 * lab and the cardiologist with the certificates the CA issued them, `patients show`, `rmp pull`
 * over IMAP (route fields), and the export (export.xml marks, the forwarded message byte-identical).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/gateway.js';
import { prepareGatewayData } from '../helpers/in-process-gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
/** Local accounts with the biologist's and the cardiologist's RPPS: the directory gives them those professions. */
const LABO = `labo.bio@${DOMAIN}`;
const CARDIO = `cardio@${DOMAIN}`;
const GONE = `ancien.labo@${DOMAIN}`;
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [RMP]: 'record server secret 0', [LABO]: 'labo password 456', [CARDIO]: 'cardio password 789', [GONE]: 'gone password 000' };
const TAG = 'PATIENT: DUPONT Jean 30/01/1959';

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

function crlf(lines: string[]): string {
  return lines.join('\r\n');
}

interface ShownDoc { part: string; type: string; title: string | null; sender: string; author: { status: string; address?: string; via?: string; name?: string }; authorMark: string }

describe('a forwarded signed message: its signer is the author', () => {
  let dir: string;
  let config: string;
  let serve: ServeProcess;
  let caPem: string;
  /** Where the accounts' certificates and keys were written, as `user add --cert-out` writes them. */
  const certs = (): string => path.join(dir, 'client-certs');
  const cli = (...args: string[]) => runCli([...args, '--config', config]);

  /** What the lab's (or the cardiologist's) mail client sends: signed with OpenSSL, detached (multipart/signed). */
  function signedBy(signer: string, subject: string, body: string): Buffer {
    const inner = crlf([`From: ${signer}`, `To: ${PAUL}`, `Subject: ${subject}`, 'Date: Tue, 02 Jun 2026 10:00:00 +0200',
      'Content-Type: text/plain; charset=utf-8', '', body, '']);
    const signed = execFileSync('openssl', ['cms', '-sign', '-signer', path.join(certs(), `${signer}.crt.pem`), '-inkey', path.join(certs(), `${signer}.key.pem`),
      '-md', 'sha256', '-from', signer, '-to', PAUL, '-subject', subject], { input: inner, stdio: ['pipe', 'pipe', 'pipe'] });
    return signed;
  }

  async function forward(o: { subject: string; text: string; filename: string; message: Buffer }): Promise<void> {
    const raw = await new MailComposer({
      from: PAUL, to: RMP, subject: `${TAG} ${o.subject}`, text: o.text,
      attachments: [{ filename: o.filename, content: o.message, contentType: 'message/rfc822' }],
    }).compile().build();
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
  /** A doctor's own message to the record server (no attachment). */
  async function send(from: string, subject: string, text: string): Promise<void> {
    const raw = await new MailComposer({ from, to: RMP, subject, text }).compile().build();
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: serve.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: from, pass: PW[from]! }, tls: { ca: caPem, servername: 'localhost' },
    });
    try {
      await t.sendMail({ envelope: { from, to: [RMP] }, raw });
    } finally {
      t.close();
    }
  }
  const refusal = (p: Promise<void>) => p.then(() => undefined, (e: { responseCode?: number; response?: string }) => e);

  beforeAll(async () => {
    dir = tempDir('medgate-forwarded-author-');
    // Set up as `medgate init`, the directory import, `user add --cert-out` and `user disable` would,
    // through the services those commands call (one process start instead of ten); then served by a
    // real `medgate serve`.
    const prepared = await prepareGatewayData({
      store: 'sqlite', dir, domain: DOMAIN, whitelist: false,
      accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! },
        { address: RMP, kind: 'rmp', password: PW[RMP]! },
        { address: LABO, kind: 'person', rpps: '10100000033', password: PW[LABO]! },
        { address: CARDIO, kind: 'person', rpps: '10100000025', password: PW[CARDIO]! },
        { address: GONE, kind: 'person', rpps: '10100000033', password: PW[GONE]! },
      ],
    });
    try {
      // Left the directory (suspended): his signature still verifies against the PKI, not against the directory.
      await prepared.ctx.accounts.setDisabled(GONE, true);
    } finally {
      await prepared.closeContext();
    }
    config = prepared.configFile;
    caPem = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
    serve = await startServe(config);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('files a verified signer as the author, refuses a verified signer without the right, marks every other forward as transmitted', async () => {
    const labReport = signedBy(LABO, 'Compte rendu de biologie', 'Compte rendu de biologie\r\nHemoglobine 14,2 g/dL\r\nPotassium 4,1 mmol/L');
    // 1. The lab's signed report, forwarded by the GP (who may not author biology): filed under the lab.
    await forward({ subject: 'Résultats du laboratoire', text: 'Ci-joint le compte rendu du laboratoire.\n', filename: 'CR-biologie.eml', message: labReport });

    // 2. Signed by the cardiologist: a verified author without the right to author biology is refused, and told what to do.
    const cardioBio = signedBy(CARDIO, 'Compte rendu de biologie', 'Compte rendu de biologie\r\nTroponine 12 ng/L');
    const refused = await refusal(forward({ subject: 'Biologie', text: 'Ci-joint.\n', filename: 'troponine.eml', message: cardioBio }));
    expect(refused?.responseCode).toBe(550);
    expect(refused?.response).toMatch(/^550 5\.7\.1 Refused by the shared-record rights matrix \(role specialist\): a specialist doctor cannot author a biology report in a shared record; forward the laboratory's own report instead/);

    // 3. The lab's report altered after signing: the signature does not verify; filed, marked, not refused.
    const tampered = Buffer.from(signedBy(LABO, 'Compte rendu de biologie', 'Compte rendu de biologie\r\nCreatinine 80 umol/L').toString('latin1').replace('Creatinine 80', 'Creatinine 95'), 'latin1');
    await forward({ subject: 'Créatinine', text: 'Ci-joint.\n', filename: 'creatinine.eml', message: tampered });

    // 4. Signed by someone who left the directory: verifies against the PKI, not the directory.
    await forward({ subject: 'Ferritine', text: 'Ci-joint.\n', filename: 'ferritine.eml', message: signedBy(GONE, 'Compte rendu de biologie', 'Compte rendu de biologie\r\nFerritine 120 ug/L') });

    // 5. An unsigned consultation report from the cardiologist: the GP could author one, but he did not write
    //    this one, and nothing verifies who did.
    const unsigned = Buffer.from(crlf([`From: ${CARDIO}`, `To: ${PAUL}`, 'Subject: Compte rendu de consultation de cardiologie', 'Date: Tue, 02 Jun 2026 11:00:00 +0200',
      'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Compte rendu de consultation', 'ETT normale.', '']));
    await forward({ subject: 'Avis cardiologique', text: 'Pour le dossier.\n', filename: 'cardio.eml', message: unsigned });

    const [patient] = JSON.parse((await must(cli('patients', 'search', 'dupont', '--json'), 'search')).stdout) as Array<{ id: string }>;
    const show = JSON.parse((await must(cli('patients', 'show', patient!.id, '--json'), 'show')).stdout) as { tabs: Record<string, ShownDoc[]> };
    const all = Object.values(show.tabs).flat();
    const doc = (part: string) => {
      const d = all.find((x) => x.part === part);
      if (!d) throw new Error(`no document ${part} among ${all.map((x) => x.part).join(', ')}`);
      return d;
    };

    const lab = doc('CR-biologie.eml');
    expect(lab.type).toBe('biology');
    expect(lab.title).toBe('Compte rendu de biologie');
    expect(lab.author).toMatchObject({ status: 'verified', address: LABO, via: 'smime' });
    expect(lab.authorMark).toMatch(new RegExp(`^author: .*${LABO.replace(/\./g, '\\.')}.* \\(verified from the forwarded message's signature\\), transmitted by ${PAUL.replace(/\./g, '\\.')}$`));
    // The covering note stays the GP's own letter, apart from the forwarded report.
    expect(all.filter((d) => d.part === 'body').every((d) => d.author.status === 'sender')).toBe(true);
    expect(all.some((d) => d.part === 'troponine.eml')).toBe(false);

    for (const part of ['creatinine.eml', 'ferritine.eml']) {
      const d = doc(part);
      expect(d.type).toBe('biology');
      expect(d.author.status).toBe('unverified');
      expect(d.authorMark).toMatch(new RegExp(`^transmitted by ${PAUL.replace(/\./g, '\\.')}, author not verified`));
    }
    const cardio = doc('cardio.eml');
    expect(cardio.type).toBe('consultation-report');
    expect(cardio.author).toEqual({ status: 'unverified', via: 'forwarded', name: CARDIO });
    expect(cardio.authorMark).toBe(`transmitted by ${PAUL}, author not verified (names ${CARDIO})`);

    // Three readers of what was filed, independent of each other (none changes what another reads): run at once.
    await Promise.all([
      (async () => {
        const text = (await must(cli('patients', 'show', patient!.id), 'show text')).stdout;
        expect(text).toContain("(verified from the forwarded message's signature)");
        expect(text).toContain(`transmitted by ${PAUL}, author not verified (names ${CARDIO})`);
      })(),
      (async () => {
        // The routing header the record server reads over IMAP carries the claims (verified there by the filing store).
        const out = path.join(dir, 'rmp-tree');
        await must(runCli(['rmp', 'pull', '--host', '127.0.0.1', '--port', String(serve.ports.imap), '--user', RMP, '--password', PW[RMP]!,
          '--out', out, '--ca', path.join(dir, 'certs', 'ca.pem')]), 'rmp pull');
        const emls = fs.readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.eml')).map((f) => fs.readFileSync(path.join(out, f), 'latin1'));
        const fields = (name: string) => emls.flatMap((e) => [...new RegExp(`^${name}: (\\S+)\\r?$`, 'm').exec(e)?.slice(1) ?? []])
          .flatMap((b64) => JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Array<Record<string, unknown>>);
        expect(fields('X-Medgate-Route-Documents')).toContainEqual({ part: 'CR-biologie.eml', type: 'biology', title: 'Compte rendu de biologie', author: { source: 'smime', id: LABO } });
        expect(fields('X-Medgate-Route-Authors')).toContainEqual({ part: 'CR-biologie.eml', mark: `transmitted by ${PAUL}, author claimed: ${LABO} (smime), not verified by these fields` });
        expect(fields('X-Medgate-Route-Authors')).toContainEqual({ part: 'cardio.eml', mark: `transmitted by ${PAUL}, author claimed: ${CARDIO} (forwarded), not verified by these fields` });
      })(),
      (async () => {
        // The export: export.xml marks, and the forwarded message itself, byte for byte, in the portable export.
        const pwFile = path.join(dir, 'rmp.password');
        fs.writeFileSync(pwFile, PW[RMP]!, { mode: 0o600 });
        const exp = path.join(dir, 'export');
        await must(cli('patients', 'export', '--all', '--out', exp, '--portable', '--record-server', RMP, '--record-server-password-file', pwFile, '--write-clear-files'), 'export');
        const folder = path.join(exp, fs.readdirSync(exp)[0]!);
        const xml = fs.readFileSync(path.join(folder, 'export.xml'), 'utf8');
        expect(xml).toContain(`<author status="verified" address="${LABO}" via="smime" name="Anne BIOLOGISTE">author: Anne BIOLOGISTE &lt;${LABO}&gt; (verified from the forwarded message&apos;s signature), transmitted by ${PAUL}</author>`);
        expect(xml).toContain(`<author status="unverified" via="forwarded" name="${CARDIO}">transmitted by ${PAUL}, author not verified (names ${CARDIO})</author>`);
        expect(xml).toContain(`<author status="unverified" via="smime" name="${GONE}">transmitted by ${PAUL}, author not verified (names ${GONE})</author>`);
        const original = new RegExp(`<document [^>]*part="CR-biologie\\.eml"[^>]*original="([^"]+)"`).exec(xml)?.[1];
        expect(original).toMatch(/^documents\/\d{4}-\d{2}-\d{2}_biology_Compte-rendu-de-biologie\.eml$/);
        expect(fs.readFileSync(path.join(folder, original!)).toString('latin1').replace(/\r\n/g, '\n')).toBe(labReport.toString('latin1').replace(/\r\n/g, '\n'));
      })(),
    ]);
  }, 180_000);

  it('a portable export whose originals cannot be decrypted fails, names the document ids (never the patient) and leaves nothing on disk', async () => {
    const wrong = path.join(dir, 'wrong.password');
    fs.writeFileSync(wrong, 'not the record server password', { mode: 0o600 });
    const out = path.join(dir, 'export-fails');
    const r = await cli('patients', 'export', '--all', '--out', out, '--portable', '--record-server', RMP, '--record-server-password-file', wrong, '--write-clear-files');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the original of \d+ document\(s\) could not be decrypted \([0-9a-f]{8}-[0-9a-f-]{27}(, [0-9a-f]{8}-[0-9a-f-]{27})*\); nothing was written/);
    expect(r.stderr).not.toMatch(/DUPONT|Jean|1959/i);
    // The sealed .eml were already staged when the failure came: the staging folder is gone, and no export appeared.
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
    const audit = (await must(cli('audit', 'list', '--limit', '100000'), 'audit')).stdout.split('\n');
    const failed = audit.filter((l) => l.includes('"action":"patients.export"') && l.includes('"outcome":"failed"'));
    expect(failed.length).toBe(1);
    expect(failed[0]).toContain('FILING_EXPORT_INCOMPLETE');
  }, 60_000);

  it('a replacement\'s summary does not take the treating doctor; the operator can name one (patients set-treating), audited', async () => {
    const martin = 'PATIENT: MARTIN Luc 01/01/1970';
    const sections = 'Antécédents : HTA\nAllergies : aucune connue\nTraitement en cours : ramipril 5 mg\nVaccinations : à jour\n';
    await send(CARDIO, `${martin} Résumé médical`, `Résumé médical\n\n${sections}\nDr Claire Cardio, médecin remplaçant du Dr Demo\n`);
    const [patient] = JSON.parse((await must(cli('patients', 'search', 'martin', '--json'), 'search')).stdout) as Array<{ id: string }>;
    const id = patient!.id;
    const first = (await must(cli('patients', 'show', id), 'show')).stdout;
    expect(first).toContain('treating doctor: (none yet)');
    expect(first).toMatch(/summary .* body {2}from cardio@cabinet-antony\.medgate\.test {2}"Résumé médical" {2}\[written as a replacement\]/);

    await send(PAUL, `${martin} Résumé médical`, `Résumé médical\n\n${sections}\nDr Paul Demo\n`);
    expect((await must(cli('patients', 'show', id), 'show')).stdout).toContain(`treating doctor: ${PAUL} (first summary)`);

    // Two refused requests (nothing changes): asked at once.
    const [unknown, both] = await Promise.all([cli('patients', 'set-treating', id, 'nobody@nowhere.test'), cli('patients', 'set-treating', id, CARDIO, '--first-summary')]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('nobody@nowhere.test is not an active person of the health directory');
    expect(both.code).not.toBe(0);

    const set = await must(cli('patients', 'set-treating', id, CARDIO), 'set-treating');
    expect(set.stdout).toContain(`treating doctor of ${id}: ${CARDIO} (set by the operator), was ${PAUL}`);
    const json = JSON.parse((await must(cli('patients', 'show', id, '--json'), 'show')).stdout) as { treatingDoctor: string; treatingDoctorSetBy: string };
    expect(json).toMatchObject({ treatingDoctor: CARDIO, treatingDoctorSetBy: 'operator' });
    const back = await must(cli('patients', 'set-treating', id, '--first-summary'), 'set-treating back');
    expect(back.stdout).toContain(`treating doctor of ${id}: ${PAUL} (first summary), was ${CARDIO}`);

    const audit = (await must(cli('audit', 'list', '--limit', '100000'), 'audit')).stdout.split('\n').filter((l) => l.includes('"action":"patients.set-treating"'));
    expect(audit).toHaveLength(2);
    expect(audit[0]).toContain(`"doctor":"${CARDIO}"`);
    expect(audit.join('\n')).not.toMatch(/MARTIN|Luc|1970/);
  }, 60_000);
});
