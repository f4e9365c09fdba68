/**
 * Logs: readable lines when standard output is a terminal, JSON lines when it is a pipe or a file,
 * and in neither form a byte of the patient's identity or of the message. `medgate serve` runs
 * under a real pseudo-terminal (util-linux `script`) and under a pipe; a doctor submits a letter
 * with a patient's identity in its Subject and body through each, with nodemailer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { prettyLogLine } from '../../src/log-format.js';
import { CLI, runCli, startServe, tempDir, writeGatewayConfig } from '../helpers/gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PAUL_PW = 'demo-paul-2026'; // config/demo.yaml: public demo password
const PATIENT = ['MARTIN', 'Alice', '02/03/1970', '1970-03-02', '270037512345678', 'insuffisance mitrale'];
const ANSI = /\x1b\[[0-9;]*m/g;

async function sendLetter(port: number, caFile: string): Promise<void> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: true, tls: { ca: fs.readFileSync(caFile), servername: 'localhost' }, auth: { user: PAUL, pass: PAUL_PW } });
  try {
    await t.sendMail({
      from: PAUL, to: JL,
      subject: 'PATIENT: MARTIN Alice 02/03/1970 - insuffisance mitrale',
      text: 'Chère consœur, Mme MARTIN Alice, née le 02/03/1970 (INS 270037512345678), insuffisance mitrale.',
    });
  } finally {
    t.close();
  }
}

function expectNoPatientByte(output: string): void {
  for (const needle of PATIENT) expect(output.toLowerCase(), needle).not.toContain(needle.toLowerCase());
}

describe('log format: readable on a terminal, JSON otherwise, never a patient byte', () => {
  let dir: string;
  let config: string;
  let caFile: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = tempDir();
    // debug: every line the message path can log, in both forms.
    config = writeGatewayConfig(dir, { demo: true, extra: { log: { level: 'debug' } } });
    const init = await runCli(['init', '--config', config]);
    expect(init.code, init.stderr).toBe(0);
    caFile = path.join(dir, 'certs', 'ca.pem');
  }, 120_000);

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('to a pipe: one JSON record a line; the letter\'s submission is logged without the patient', async () => {
    const gw = await startServe(config);
    try {
      await sendLetter(gw.ports.smtpSubmissionTls!, caFile);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await gw.stop();
    }
    const lines = gw.logs.filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    const all = lines.join('\n');
    expect(all).toMatch(/"msg":"medgate started"/);
    expect(all).toContain(PAUL); // the submission was logged (addresses are not patient data)
    expectNoPatientByte(all + gw.stderr.join(''));
  }, 120_000);

  it('to a terminal: readable lines (time, level, message, fields), coloured; the same letter, no patient byte', async () => {
    const command = [process.execPath, ...SERVE_NODE_FLAGS, CLI, 'serve', '--config', config].join(' ');
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    const ports = await new Promise<Record<string, number>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start on the terminal:\n${out}`)), 90_000);
      const look = (): void => {
        const m = /medgate started.*?ports=(\{[^}]*\})/.exec(out.replace(ANSI, ''));
        if (m) { clearTimeout(timer); child.stdout!.off('data', look); resolve(JSON.parse(m[1]!) as Record<string, number>); }
      };
      child.stdout!.on('data', look);
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited with ${code}:\n${out}`)); });
    });
    await sendLetter(ports.smtpSubmissionTls!, caFile);
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    expect(out).toMatch(ANSI); // coloured: a terminal, and NO_COLOR not set
    const lines = out.replace(ANSI, '').split(/\r?\n/).filter((l) => l.trim());
    const started = lines.find((l) => l.includes('medgate started'))!;
    expect(started).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO  medgate started  .*\bports=\{"/);
    // Not one JSON record: every log line is in the readable form.
    for (const l of lines) expect(l.startsWith('{'), l).toBe(false);
    expect(lines.filter((l) => /^\d{2}:\d{2}:\d{2}\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /.test(l)).length).toBeGreaterThan(3);
    expect(lines.join('\n')).toContain(PAUL);
    expectNoPatientByte(out);
  }, 150_000);

  it('the readable line is made from the redacted JSON record: a redacted field stays redacted', () => {
    const line = prettyLogLine('{"level":40,"time":"2026-12-07T01:02:03.456Z","service":"medgate","subject":"[redacted]","messageId":"<a b@c>","msg":"refused"}\n', false);
    expect(line).toBe('01:02:03.456 WARN  refused  subject=[redacted] messageId="<a b@c>"\n');
  });
});
