/**
 * A letter that reads like a report ("J'ai vu votre patiente…", "a été hospitalisé dans…") is typed
 * as the report only when its sender is one who writes such reports. A nurse's note to a shared
 * record opening "Bonjour, j'ai vu Mme … ce matin" is her letter: typed a consultation report it was
 * refused whole by the rights matrix (a nurse cannot author one), a message accepted before the
 * classifier read letters for reports. Through a real `medgate serve`, submitting with nodemailer.
 */
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';

const DOMAIN = 'soins-antony.medgate.test';
const NURSE = `sophie.infirmiere@${DOMAIN}`; // profession 60 (Infirmier) in the demo directory
const RMP = `rmp@${DOMAIN}`;
const PW = { nurse: 'sophie password 123', rmp: 'record server secret 0' };
const TAG = 'PATIENT: DUPONT Jean 30/01/1959';

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

describe('a nurse\'s letter in report wording, through medgate serve', () => {
  let dir: string;
  let config: string;
  let serve: ServeProcess;
  let caPem: string;
  const cli = (...args: string[]) => runCli([...args, '--config', config]);

  async function submit(subject: string, text: string): Promise<void> {
    const raw = await new MailComposer({ from: NURSE, to: RMP, subject, text }).compile().build();
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: serve.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: NURSE, pass: PW.nurse }, tls: { ca: caPem, servername: 'localhost' },
    });
    try {
      await t.sendMail({ envelope: { from: NURSE, to: [RMP] }, raw });
    } finally {
      t.close();
    }
  }

  beforeAll(async () => {
    dir = tempDir('medgate-letter-form-');
    // Set up through the services `init`, `directory import` and `user add` call, in this process;
    // the gateway under test is a real `medgate serve`.
    const prepared = await prepareForServe({
      store: 'sqlite', dir, domain: DOMAIN, whitelist: false,
      accounts: [
        { address: NURSE, kind: 'person', adeli: '929999999', password: PW.nurse },
        { address: RMP, kind: 'rmp', password: PW.rmp },
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

  it('is accepted and filed as her letter, not refused as a consultation or hospital report she may not author', async () => {
    await submit(`${TAG} Passage infirmier`, "Bonjour,\nJ'ai vu Mme DUPONT ce matin pour la réfection de son pansement : la plaie est propre.\nBien cordialement,\nSophie SOINS, infirmière\n");
    await submit(`${TAG} Retour à domicile`, 'Bonjour,\nVotre patient a été hospitalisé dans le service de cardiologie ; je reprends les soins à domicile dès demain.\nCordialement,\nSophie SOINS\n');
    const [patient] = JSON.parse((await must(cli('patients', 'search', 'dupont', '--json'), 'search')).stdout) as Array<{ id: string }>;
    const show = JSON.parse((await must(cli('patients', 'show', patient!.id, '--json'), 'show')).stdout) as { tabs: Record<string, Array<{ part: string; type: string; author: { status: string } }>> };
    const bodies = Object.values(show.tabs).flat().filter((d) => d.part === 'body');
    expect(bodies.map((d) => d.type)).toEqual(['letter', 'letter']);
    for (const d of bodies) expect(d.author).toEqual({ status: 'sender' });
  }, 120_000);
});
