/**
 * `medgate store migrate --to postgres://…`: a SQLite installation that has served mail (small
 * messages in the database, a large one as a blob file) is copied into an empty PostgreSQL
 * database, verified, and then served from PostgreSQL: same mailbox, same UIDs and UIDVALIDITY, the
 * same readable mail. What an operator gets wrong (URL, password, server, a non-empty target) is one
 * clear line each.
 */
import fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareGateway, runCli, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { PG_NOT_FOUND_BANNER, createTestDatabase, testPostgres } from '../helpers/postgres.js';

const available = testPostgres();
if (!available) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const DOMAIN = 'cabinet-antony.medgate.test';
const JL = `jl.letest@${DOMAIN}`;
const PW = 'correct horse battery';

describe.skipIf(!available)('medgate store migrate: SQLite → PostgreSQL', () => {
  let dir: string;
  let config: string;
  let target: Awaited<ReturnType<typeof createTestDatabase>>;
  let before: { uidValidity: string; uids: number[]; subjects: string[] };

  const imapView = async (gw: ServeProcess): Promise<typeof before> => {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: fs.readFileSync(`${dir}/certs/ca.pem`, 'utf8'), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await c.connect();
    try {
      const mb = await c.mailboxOpen('INBOX');
      const uids: number[] = [];
      const subjects: string[] = [];
      for await (const m of c.fetch('1:*', { uid: true, envelope: true, source: true })) {
        uids.push(m.uid);
        subjects.push(`${m.envelope?.subject} ${(m.source?.length ?? 0) > 1_000_000 ? 'large' : 'small'}`);
      }
      return { uidValidity: String(mb.uidValidity), uids, subjects };
    } finally {
      await c.logout();
    }
  };

  beforeAll(async () => {
    dir = tempDir('medgate-migrate-');
    config = writeGatewayConfig(dir);
    await prepareGateway(config, [{ address: JL, kind: 'person', password: PW, rpps: '10100000041' }]);
    const gw = await startServe(config);
    try {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmission!, secure: false, requireTLS: true, auth: { user: JL, pass: PW }, tls: { ca: fs.readFileSync(`${dir}/certs/ca.pem`, 'utf8'), servername: 'localhost' } });
      for (const [i, size] of [[1, 2000], [2, 2_500_000], [3, 5000]] as const) {
        const raw = [`From: ${JL}`, `To: ${JL}`, `Subject: message ${i}`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'x'.repeat(size).replace(/.{76}/g, '$&\r\n'), ''].join('\r\n');
        await transport.sendMail({ envelope: { from: JL, to: [JL] }, raw });
      }
      transport.close();
      before = await imapView(gw);
    } finally {
      await gw.stop();
    }
    target = await createTestDatabase('migrate');
  }, 180_000);

  afterAll(async () => {
    await target?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('copies everything, says what it verified, and PostgreSQL then serves the same mailbox', async () => {
    expect(before.uids).toHaveLength(3);
    expect(fs.readdirSync(`${dir}/data/blobs`).length).toBeGreaterThan(0); // the large one is a file
    const r = await runCli(['store', 'migrate', '--to', target.url, '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[#+\.*\]\s+100%/); // the progress bar reached the end
    expect(r.stdout).toMatch(/verified: \d+ tables, \d+ rows, the same count in each as the source/);
    expect(r.stdout).toMatch(/verified: \d+ sealed blobs \([\d.]+ MB\), each re-read from the target matches its sha256/);
    expect(r.stdout).toMatch(/verified: the audit chain of \d+ records links and hashes on the target/);
    expect(r.stdout + r.stderr).not.toContain(target.url.split('@')[0]!.split(':')[2]!); // never the password

    const audit = await runCli(['audit', 'verify', '--config', config], { env: { MEDGATE_DATABASE_URL: target.url } });
    expect(audit.code, audit.stderr).toBe(0);
    const gw = await startServe(config, 90_000, { file: process.execPath, args: [...SERVE_NODE_FLAGS, `${process.cwd()}/dist/cli.js`], env: { MEDGATE_DATABASE_URL: target.url } });
    try {
      expect(gw.logs.join('\n')).toMatch(/"store":"postgres"/);
      expect(await imapView(gw)).toEqual(before);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  it('a non-empty target is refused, nothing written', async () => {
    const r = await runCli(['store', 'migrate', '--to', target.url, '--config', config]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/already holds medgate data .*give an empty database \[STORE_TARGET_NOT_EMPTY\]/);
  });

  it.each([
    ['a bad URL', () => 'mysql://x@y/z', /must start with postgres:\/\/ .*\[STORE_TARGET_URL_INVALID\]/],
    ['a wrong password', () => target.url.replace(/:\/\/([^:]+):[^@]+@/, '://$1:wrong@'), /refused the password for user "postgres": check the user and password in the URL \[STORE_TARGET_AUTH_FAILED\]/],
    ['an unreachable server', () => 'postgres://postgres:x@127.0.0.1:1/medgate', /cannot reach PostgreSQL at 127\.0\.0\.1:1 \(connection refused\).*\[STORE_TARGET_UNREACHABLE\]/],
  ])('%s is one clear line, never a stack trace', async (_what, url, expected) => {
    const r = await runCli(['store', 'migrate', '--to', url(), '--config', config]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(expected);
  });
});
