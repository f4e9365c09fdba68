import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, prepareGateway, ROOT, tempDir, writeGatewayConfig } from '../helpers/gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const RMP = 'rmp@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const EML = fs.readFileSync(path.join(ROOT, 'test', 'e2e', 'fixtures', 'subject-tag-outlook.eml'));

/** Runs the CLI with binary stdin/stdout. */
function runBinary(args: string[], input: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as unknown as { code: number }).code ?? 1) : 0, stdout: stdout as Buffer, stderr: (stderr as Buffer).toString() });
    });
    child.stdin!.end(input);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('medgate message seal / open / inspect', () => {
  let dir: string;
  let config: string;
  let sealed: Buffer;

  beforeAll(async () => {
    dir = tempDir();
    config = writeGatewayConfig(dir);
    await prepareGateway(config, [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }, { address: RMP, kind: 'rmp', password: PW }]);
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('seals a doctor\'s message: nothing of the patient or the subject is visible', async () => {
    const r = await runBinary(['message', 'seal', '--from', PAUL, '--to', JL, '--password', PW, '--config', config], EML);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/patient found \(subject\)/);
    sealed = r.stdout;
    const text = sealed.toString('latin1');
    expect(text).toMatch(/multipart\/encrypted/);
    for (const needle of ['DUPONT', 'Dupont', '30/01/1959', '1959-01-30', '19590130', 'avis cardiologique', 'dyspn']) {
      expect(text.includes(needle), needle).toBe(false);
    }
    expect(text).not.toContain(Buffer.from('DUPONT').toString('base64').slice(0, 6));
  });

  it('opens as the recipient, byte-identical, with the signer verified against the directory', async () => {
    const r = await runBinary(['message', 'open', '--as', JL, '--password', PW, '--config', config], sealed);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(r.stdout)).toBe(sha(EML));
    expect(r.stderr).toContain(`signature valid: ${PAUL}`);
    const sender = await runBinary(['message', 'open', '--as', PAUL, '--password', PW, '--config', config], sealed);
    expect(sha(sender.stdout)).toBe(sha(EML)); // the Sent copy opens too
  });

  it('refuses a non-recipient, a wrong password and a tampered message with clear errors', async () => {
    const other = await runBinary(['message', 'open', '--as', RMP, '--password', PW, '--config', config], sealed);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/\[NOT_FOR_THIS_KEY\]/);
    const wrong = await runBinary(['message', 'open', '--as', JL, '--password', 'nope nope nope', '--config', config], sealed);
    expect(wrong.stderr.trim()).toBe('medgate: the credentials are wrong [CREDENTIALS_WRONG]');
    const tampered = Buffer.from(sealed);
    const at = tampered.indexOf('-----BEGIN PGP MESSAGE-----', tampered.indexOf('application/octet-stream')) + 200;
    tampered[at] = tampered[at] === 0x41 ? 0x42 : 0x41;
    const bad = await runBinary(['message', 'open', '--as', JL, '--password', PW, '--config', config], tampered);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[(CIPHERTEXT_TAMPERED|MALFORMED_STRUCTURE)\]/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });

  it('inspect shows the neutral outer headers and the routing header opened with the filing key', async () => {
    const r = await runBinary(['message', 'inspect', '--json', '--config', config], sealed);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.toString());
    const subject = res.visible.outerHeaders.find(([k]: [string]) => k.toLowerCase() === 'subject');
    expect(subject[1]).not.toMatch(/DUPONT|avis/);
    expect(res.routing.routing.patient).toMatchObject({ familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' });
    expect(res.routing.routing.sender).toMatchObject({ address: PAUL, role: 'general-practitioner', nationalId: '810100000017' });
    expect(res.routing.verification.signer).toBe(PAUL);
  });

  it('refuses to seal for a recipient without a key, naming why', async () => {
    const r = await runBinary(['message', 'seal', '--from', PAUL, '--to', 'claire.martin@cardio-sceaux.medgate.test', '--password', PW, '--config', config], EML);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/claire\.martin@cardio-sceaux\.medgate\.test has no encryption key in the directory: medgate never sends without encryption/);
    const noPw = await runBinary(['message', 'seal', '--from', PAUL, '--to', JL, '--config', config], EML);
    expect(noPw.stderr).toMatch(/give the password with --password/);
  });
});
