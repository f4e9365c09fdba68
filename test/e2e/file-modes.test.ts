/**
 * Every file medgate writes under the data directory is 0600 and every folder 0700, although each
 * command here runs under `umask 022` (what most shells and service managers give): database, WAL,
 * SHM, blobs, spool, keys, TLS files. Looser modes found later are reported by `medgate init` and at
 * `serve` start, and fixed by `--fix-permissions`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { CLI, DEMO_SAMPLES, startServe, tempDir, writeGatewayConfig, type CliResult, type ServeProcess } from '../helpers/gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const JL = `jl.letest@${DOMAIN}`;
const PW = 'correct horse battery';
const UMASK_022 = ['-c', 'umask 022 && exec "$0" "$@"'];

/** The built CLI under `umask 022`. */
function cli022(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('sh', [...UMASK_022, process.execPath, CLI, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code) || 1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Every file and folder under `root` with its mode (lstat: links are not followed). */
function walk(root: string): Array<{ rel: string; dir: boolean; mode: number }> {
  const found: Array<{ rel: string; dir: boolean; mode: number }> = [];
  const visit = (abs: string): void => {
    const st = fs.lstatSync(abs);
    found.push({ rel: path.relative(root, abs) || '.', dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) for (const n of fs.readdirSync(abs)) visit(path.join(abs, n));
  };
  visit(root);
  return found;
}

function loose(root: string): string[] {
  return walk(root).filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${e.rel} ${e.mode.toString(8)}`);
}

describe('file modes under the data directory, whatever the umask', () => {
  let dir: string;
  let data: string;
  let config: string;
  let gw: ServeProcess | undefined;
  const must = async (args: string[]): Promise<CliResult> => {
    const r = await cli022([...args, '--config', config]);
    if (r.code !== 0) throw new Error(`medgate ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r;
  };
  const serve022 = () => startServe(config, 90_000, { file: 'sh', args: [...UMASK_022, process.execPath, ...SERVE_NODE_FLAGS, CLI] });

  beforeAll(async () => {
    dir = tempDir('medgate-modes-');
    data = path.join(dir, 'data');
    config = writeGatewayConfig(dir, { domain: DOMAIN });
    await must(['pki', 'init']);
    await must(['init']);
    // Independent writes (each its own transaction; SQLite's busy timeout orders them): two at a time.
    await Promise.all([
      must(['directory', 'import', path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt')]),
      must(['directory', 'whitelist', 'import', path.join(DEMO_SAMPLES, 'liste-blanche.xml')]),
    ]);
    await Promise.all(([[PAUL, '10100000017'], [JL, '10100000041']] as const).map(([a, rpps]) =>
      must(['user', 'add', a, '--kind', 'person', '--rpps', rpps, '--password', PW])));
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('after init, accounts, a served small and a large (blob) message and an IMAP read: every file 0600, every folder 0700', async () => {
    gw = await serve022();
    const ca = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'));
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmissionTls, secure: true,
      tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW },
    });
    await t.sendMail({ from: PAUL, to: JL, subject: 'PATIENT: MARTIN Alice 02/03/1970 - courrier', text: 'Lettre pour Mme MARTIN.' });
    // Above 1 MiB: received through the spool, stored as a blob file.
    await t.sendMail({
      from: PAUL, to: JL, subject: 'PATIENT: MARTIN Alice 02/03/1970 - imagerie', text: 'Compte rendu joint.',
      attachments: [{ filename: 'cr.pdf', content: randomBytes(1_400_000), contentType: 'application/pdf' }],
    });
    t.close();
    const imap = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, tls: { ca, servername: 'localhost' }, auth: { user: JL, pass: PW }, logger: false });
    await imap.connect();
    const lock = await imap.getMailboxLock('INBOX');
    try {
      const envelopes = [];
      for await (const m of imap.fetch('1:*', { envelope: true, bodyStructure: true })) envelopes.push(m.envelope?.subject);
      expect(envelopes).toHaveLength(2);
    } finally {
      lock.release();
    }
    await imap.logout();

    // While serving: the WAL and SHM exist.
    const running = walk(data).map((e) => e.rel);
    for (const f of ['medgate.db', 'medgate.db-wal', 'medgate.db-shm', 'spool', 'keys', 'tls']) expect(running).toContain(f);
    expect(running.some((f) => /^blobs\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(f))).toBe(true);
    expect(loose(data)).toEqual([]);
    await gw.stop();
    gw = undefined;
    expect(loose(data)).toEqual([]);
  }, 180_000);

  it('init warns about looser modes in one line, --fix-permissions fixes them; serve warns at start', async () => {
    fs.chmodSync(path.join(data, 'medgate.db'), 0o644);
    fs.chmodSync(path.join(data, 'keys'), 0o755);
    const warned = await must(['init']);
    // SQLite gives the WAL and SHM it creates the database's mode, whatever the umask: they follow.
    expect(warned.stderr).toMatch(/^medgate: warning: 4 file\(s\) or folder\(s\) in .* are open to group or others \(keys 0755, medgate.db 0644, medgate.db-shm 0644, medgate.db-wal 0644\); expected 0600 files and 0700 folders: run medgate init --fix-permissions$/m);
    // (The WAL and SHM go when the last connection closes.)
    expect(loose(data)).toEqual(['keys 755', 'medgate.db 644']);

    const fixed = await must(['init', '--fix-permissions']);
    expect(fixed.stdout).toContain('permissions fixed: 4 file(s) or folder(s)');
    expect(loose(data)).toEqual([]);
    expect((await must(['init'])).stderr).not.toContain('warning');

    fs.chmodSync(path.join(data, 'medgate.db'), 0o640);
    gw = await serve022();
    const line = gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string; loose?: number }).find((r) => /open to group or others/.test(r.msg));
    expect(line).toMatchObject({ level: 40 });
    expect(line!.loose).toBeGreaterThanOrEqual(1);
    expect(line!.msg).toContain('medgate.db 0640');
    await gw.stop();
    gw = undefined;
  }, 180_000);
});
