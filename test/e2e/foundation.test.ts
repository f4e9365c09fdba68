import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../dist/cli/program.js';
import { DEMO_SAMPLES, runCli, startServe, tempDir, writeGatewayConfig } from '../helpers/gateway.js';
import { prepareGatewayData } from '../helpers/in-process-gateway.js';

const ANS = path.join(DEMO_SAMPLES, 'ans-extraction-mssante.txt');
const WHITELIST = path.join(DEMO_SAMPLES, 'liste-blanche.xml');
const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PASSWORD = 'correct horse battery';

describe('foundation end to end (built medgate command in a temp directory)', () => {
  let dir: string;
  let config: string;
  const cli = (...args: string[]) => runCli([...args, '--config', config]);

  beforeAll(() => {
    dir = tempDir();
    config = writeGatewayConfig(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates the test CA once and refuses to overwrite it', async () => {
    const first = await cli('pki', 'init');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(fs.existsSync(path.join(dir, 'certs', 'ca.pem'))).toBe(true);
    expect(fs.statSync(path.join(dir, 'certs', 'private')).mode & 0o077).toBe(0);
    const again = await cli('pki', 'init');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists|--force/);
    expect(again.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('initialises the data directory', async () => {
    const r = await cli('init');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/filing key [0-9A-F]{40}/);
    expect(fs.existsSync(path.join(dir, 'data', 'medgate.db'))).toBe(true);
    expect(fs.statSync(path.join(dir, 'data', 'keys', 'filing-key.asc')).mode & 0o077).toBe(0);
  });

  it('imports the ANS extraction: 9 accepted, the invalid row rejected with its reason; re-import is idempotent', async () => {
    const r = await cli('directory', 'import', ANS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/imported: 9\s+updated: 0\s+unchanged: 0\s+rejected: 1/);
    expect(r.stdout).toMatch(/rejected line \d+.*: .+/);
    const again = await cli('directory', 'import', ANS);
    expect(again.stdout).toMatch(/imported: 0\s+updated: 0\s+unchanged: 9\s+rejected: 1/);
  });

  it('imports the domain whitelist', async () => {
    const r = await cli('directory', 'whitelist', 'import', WHITELIST);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('whitelist: 5 domains');
    const list = await cli('directory', 'whitelist', 'list');
    expect(list.stdout.trim().split('\n')).toContain('labo-biotest.medgate.test');
  });

  it('shows an entry by address and by RPPS', async () => {
    // Independent reads: run together, each is a node start.
    const [byAddress, byRpps, missing] = await Promise.all([
      cli('directory', 'show', PAUL),
      cli('directory', 'show', '10100000017', '--json'),
      cli('directory', 'show', 'nobody@nowhere.test'),
    ]);
    expect(byAddress.code).toBe(0);
    expect(byAddress.stdout).toMatch(/RPPS 10100000017/);
    expect(byAddress.stdout).toMatch(/Médecine générale/);
    expect(JSON.parse(byRpps.stdout)[0].address).toBe(PAUL);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no directory entry matches/);
  });

  it('adds a person with keys and a certificate that OpenSSL accepts, profession taken from the directory', async () => {
    const certDir = path.join(dir, 'paul-cert');
    const r = await cli('user', 'add', PAUL, '--kind', 'person', '--rpps', '10100000017', '--password', PASSWORD, '--cert-out', certDir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/profession: Médecin — Médecine générale/);
    expect(r.stdout).toMatch(/recovery key \(shown once, keep it offline\): [A-Z0-9]{5}(-[A-Z0-9]{5}){7}/);
    const certFile = path.join(certDir, `${PAUL}.crt.pem`);
    const showing = cli('directory', 'show', PAUL, '--json');
    const verified = execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'certs', 'ca.pem'), certFile]).toString();
    expect(verified).toMatch(/: OK/);
    const keyMode = fs.statSync(path.join(certDir, `${PAUL}.key.pem`)).mode & 0o077;
    expect(keyMode).toBe(0);
    const show = await showing;
    const entry = JSON.parse(show.stdout)[0];
    expect(entry.pgpPublicKey).toMatch(/BEGIN PGP PUBLIC KEY BLOCK/);
    expect(entry.certificatePem).toMatch(/BEGIN CERTIFICATE/);
    expect(entry.source).toBe('local');
  });

  it('refuses a person whose RPPS contradicts the directory, and a duplicate account', async () => {
    const [wrong, dup] = await Promise.all([
      cli('user', 'add', 'jl.letest@cabinet-antony.medgate.test', '--kind', 'person', '--rpps', '10100000017', '--password', PASSWORD),
      cli('user', 'add', PAUL, '--kind', 'person', '--rpps', '10100000017', '--password', PASSWORD),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/identifier 10100000041, not 10100000017/);
    expect(dup.stderr).toMatch(/already exists/);
  });

  it('adds application and record-server accounts, reading the password from standard input', async () => {
    const [app, rmp] = await Promise.all([
      runCli(['user', 'add', 'lgc@cabinet-antony.medgate.test', '--kind', 'application', '--name', 'LGC du cabinet', '--config', config], { input: 'application secret 1\n' }),
      cli('user', 'add', 'rmp@cabinet-antony.medgate.test', '--kind', 'rmp', '--password', 'record server secret'),
    ]);
    expect(app.code, app.stderr).toBe(0);
    expect(rmp.code, rmp.stderr).toBe(0);
    const list = await cli('user', 'list', '--json');
    expect(JSON.parse(list.stdout).map((a: { kind: string }) => a.kind).sort()).toEqual(['application', 'person', 'rmp']);
  });

  it('a wrong password unlocks nothing and says only that the credentials are wrong', async () => {
    const [bad, unknown, good] = await Promise.all([
      cli('user', 'check', PAUL, '--password', 'not the password'),
      cli('user', 'check', 'ghost@cabinet-antony.medgate.test', '--password', 'whatever12345'),
      cli('user', 'check', PAUL, '--password', PASSWORD),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('medgate: the credentials are wrong [CREDENTIALS_WRONG]');
    expect(unknown.stderr.trim()).toBe(bad.stderr.trim());
    expect(good.code, good.stderr).toBe(0);
  });

  it('changes a password (old one stops working) and disables an account', async () => {
    const r = await cli('user', 'passwd', PAUL, '--current', PASSWORD, '--password', 'a brand new password');
    expect(r.code, r.stderr).toBe(0);
    const [oldOne, newOne, disabled] = await Promise.all([
      cli('user', 'check', PAUL, '--password', PASSWORD),
      cli('user', 'check', PAUL, '--password', 'a brand new password'),
      cli('user', 'disable', 'lgc@cabinet-antony.medgate.test'),
    ]);
    expect(oldOne.code).toBe(1);
    expect(newOne.code).toBe(0);
    expect(disabled.code).toBe(0);
    const [locked, shown] = await Promise.all([
      cli('user', 'check', 'lgc@cabinet-antony.medgate.test', '--password', 'application secret 1'),
      cli('directory', 'show', 'lgc@cabinet-antony.medgate.test', '--json'),
    ]);
    expect(locked.stderr).toMatch(/credentials are wrong/);
    const entry = JSON.parse(shown.stdout)[0];
    expect(entry.status).toBe('suspended');
  });

  it('exports its users for a peer gateway, which imports them', async () => {
    const exportFile = path.join(dir, 'export.json');
    // The peer set up as `medgate init` would, through its service (this test is about the export
    // and the peer's import command), while the export runs; read afterwards through its store.
    const [r, peer] = await Promise.all([
      cli('directory', 'export', '--out', exportFile),
      prepareGatewayData({ store: 'sqlite', domain: 'cardio-sceaux.medgate.test', directory: false, whitelist: false }),
    ]);
    try {
      expect(r.code, r.stderr).toBe(0);
      const text = fs.readFileSync(exportFile, 'utf8');
      expect(text).not.toMatch(/PRIVATE KEY/);
      const imported = await runCli(['directory', 'peer', 'import', exportFile, '--config', peer.configFile]);
      expect(imported.code, imported.stderr).toBe(0);
      expect(imported.stdout).toMatch(/peer cabinet-antony\.medgate\.test/);
      // The three users, and the postmaster that signs delivery reports and read receipts.
      expect(imported.stdout).toMatch(/imported: 4/);
      const postmaster = await peer.ctx.store.directory.get('postmaster@cabinet-antony.medgate.test');
      expect(postmaster?.pgpPublicKey).toMatch(/BEGIN PGP PUBLIC KEY BLOCK/);
      const seen = await peer.ctx.store.directory.get(PAUL);
      expect(seen?.source).toBe('peer:cabinet-antony.medgate.test');
      expect(seen?.pgpPublicKey).toMatch(/BEGIN PGP PUBLIC KEY BLOCK/);
    } finally {
      await peer.dispose();
    }
  });

  it('audit verify passes; the records list the account creations, never a password', async () => {
    // Tampering, and the database's own refusal of edits, are tested on both stores in
    // test/store/contract/audit.contract.test.ts: this suite does not open the database file.
    const [ok, listed] = await Promise.all([cli('audit', 'verify'), cli('audit', 'list')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/audit trail intact: \d+ records/);
    const list = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(list.some((r: { action: string }) => r.action === 'account.create')).toBe(true);
    expect(JSON.stringify(list)).not.toContain(PASSWORD);
  });

  it('serve answers /healthz and /metrics over HTTP and stops cleanly on SIGTERM', async () => {
    const gw = await startServe(config);
    try {
      const health = await fetch(`http://127.0.0.1:${gw.ports.http}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok', problems: [] });
      const metrics = await (await fetch(`http://127.0.0.1:${gw.ports.http}/metrics`)).text();
      expect(metrics).toMatch(/^medgate_up 1$/m);
      expect((await fetch(`http://127.0.0.1:${gw.ports.http}/nope`)).status).toBe(404);
    } finally {
      expect(await gw.stop('SIGTERM')).toBe(0);
    }
    for (const line of gw.logs) expect(() => JSON.parse(line)).not.toThrow();
    expect(gw.logs.some((l) => JSON.parse(l).msg === 'medgate stopped')).toBe(true);
  });
});

describe('configuration errors', () => {
  it('a bad config fails at start with the key, the value and what is expected, never a stack trace', async () => {
    const dir = tempDir();
    try {
      const file = writeGatewayConfig(dir, { ports: { http: 70000 } });
      fs.appendFileSync(file, 'colour: blue\n');
      const [r, missing] = await Promise.all([
        runCli(['serve', '--config', file]),
        runCli(['serve', '--config', path.join(dir, 'nope.yaml')]),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/listen\.http: got 70000; expected/);
      expect(r.stderr).toMatch(/unknown setting\(s\) "colour"/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(missing.stderr).toMatch(/cannot read config file .*nope\.yaml: ENOENT/);
      fs.writeFileSync(file, 'domain: [unclosed');
      expect((await runCli(['serve', '--config', file])).stderr).toMatch(/is not valid YAML/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every subcommand has --help', async () => {
    // The whole command tree the binary runs (src/cli/program.ts), walked here: each command's help
    // names its usage and the config option. The rmp tools talk to a gateway over IMAP and read no
    // gateway config, by design.
    const walk = (c: Command, at: string[]): Array<{ path: string[]; help: string }> => c.commands.flatMap((sub) => {
      const p = [...at, sub.name()];
      return [{ path: p, help: sub.helpInformation() }, ...walk(sub, p)];
    });
    const all = walk(buildProgram() as Command, []);
    expect(all.length).toBeGreaterThan(40);
    for (const { path: p, help } of all) {
      expect(help, p.join(' ')).toContain(`Usage: medgate ${p.join(' ')}`);
      if (p[0] !== 'rmp') expect(help, p.join(' ')).toMatch(/--config/);
    }
    // And the built command itself answers --help with success, at a few depths.
    const spawned = [['--help'], ['serve', '--help'], ['directory', 'whitelist', 'import', '--help']];
    await Promise.all(spawned.map(async (g) => {
      const r = await runCli(g);
      expect(r.code, g.join(' ')).toBe(0);
      expect(r.stdout, g.join(' ')).toMatch(/Usage: medgate/);
      expect(r.stdout, g.join(' ')).toMatch(/--config|Commands:/);
    }));
  }, 60_000);
});
