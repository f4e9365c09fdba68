/**
 * Losing the database mid-load, with a real PostgreSQL stopped and started again: submissions get
 * 451 4.3.0 while it is away (never a 250 that was not committed), IMAP answers NO [UNAVAILABLE],
 * /healthz says 503; when it returns the node serves again by itself, without a restart, and
 * every acknowledged message is in the mailbox once.
 */
import fs from 'node:fs';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareGateway, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import { PG_NOT_FOUND_BANNER, PgCluster, locatePostgres, testPostgres } from '../helpers/postgres.js';

const found = testPostgres() ? locatePostgres() : undefined;
if (!found?.ok) console.warn(`!!! ${PG_NOT_FOUND_BANNER}`);

const DOMAIN = 'cabinet-antony.medgate.test';
const JL = `jl.letest@${DOMAIN}`;
const PW = 'correct horse battery';

describe.skipIf(!found?.ok)('PostgreSQL lost and back under load', () => {
  // Its own cluster: stopping the run's shared one would take other suites down with it.
  let cluster: PgCluster;
  let gw: ServeProcess;
  let dir: string;

  beforeAll(async () => {
    // Durable commits (fsync, synchronous_commit on), as in production: the server is stopped with
    // `-m immediate`, a crash, and an acknowledged message must survive it. The run's shared
    // cluster trades that away for speed.
    cluster = await PgCluster.start((found as { bin: string }).bin, { durable: true });
    const database = await cluster.createDatabase('outage');
    dir = tempDir('medgate-outage-');
    const config = writeGatewayConfig(dir, { extra: { store: { driver: 'postgres', postgres: { url: database.url, poolSize: 4 } } } });
    await prepareGateway(config, [{ address: JL, kind: 'person', password: PW, rpps: '10100000041' }]);
    gw = await startServe(config);
  }, 180_000);

  afterAll(async () => {
    await gw?.stop('SIGKILL').catch(() => undefined);
    await cluster?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const caFile = (): string => `${dir}/certs/ca.pem`;
  const health = async (): Promise<number> => (await fetch(`http://127.0.0.1:${gw.ports.http}/healthz`)).status;
  // A pooled, logged-in connection, as practice software keeps. While the store is away a message on
  // it gets 451 4.3.0; nodemailer then drops the connection, and its next login gets AUTH's
  // temporary reply (RFC 4954), 454 4.3.0 "the message store is unavailable".
  let transport: nodemailer.Transporter;
  const send = async (i: number): Promise<{ code: number; reply: string; id: string }> => {
    transport ??= nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission!, secure: false, requireTLS: true, pool: true, maxConnections: 1,
      auth: { user: JL, pass: PW }, tls: { ca: fs.readFileSync(caFile(), 'utf8'), servername: 'localhost' },
    });
    const id = `<outage-${i}-${Date.now()}@${DOMAIN}>`;
    try {
      const raw = [`From: ${JL}`, `To: ${JL}`, `Subject: essai ${i}`, `Message-ID: ${id}`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Texte.', ''].join('\r\n');
      const info = await transport.sendMail({ envelope: { from: JL, to: [JL] }, raw });
      return { code: Number(info.response.slice(0, 3)), reply: info.response, id };
    } catch (err) {
      const e = err as { responseCode?: number; response?: string; message: string };
      return { code: e.responseCode ?? 0, reply: e.response ?? e.message, id };
    }
  };

  it('451 4.3.0 and NO [UNAVAILABLE] while it is down, service again without a restart when it is back, nothing acknowledged lost', async () => {
    expect(await health()).toBe(200);
    const acknowledged: string[] = [];
    const replies: number[] = [];
    const texts: string[] = [];
    let stop = false;
    let i = 0;
    const load = (async () => {
      while (!stop) {
        const r = await send(i++);
        replies.push(r.code);
        texts.push(r.reply);
        if (r.code === 250) acknowledged.push(r.id);
      }
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const imap = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: fs.readFileSync(caFile(), 'utf8'), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await imap.connect();

    cluster.stopServer('immediate');
    const downFrom = replies.length;
    // At least 3 s down, and at least three replies while down (a loaded machine answers slowly).
    await new Promise((r) => setTimeout(r, 3000));
    for (const until = Date.now() + 60_000; replies.length < downFrom + 3 && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    expect(await health()).toBe(503);
    // A command that needs the store: a clear temporary NO, the session stays usable.
    const status = await imap.status('INBOX', { messages: true }).then(() => 'OK', (err: { responseText?: string; serverResponseCode?: string; response?: string }) => `${err.serverResponseCode ?? ''} ${err.responseText ?? err.response ?? ''}`);
    expect(status).toMatch(/UNAVAILABLE/);
    // From the stop on: the message in flight may still have committed (250); on the logged-in
    // connection the next is refused at submission (451), and nodemailer's later logins at AUTH
    // (454): all temporary, all saying why, no other 250.
    const whileDown = texts.slice(downFrom);
    expect(whileDown.length).toBeGreaterThan(1);
    expect(whileDown.some((t) => /^451 4\.3\.0 The message store is unavailable/.test(t)), whileDown.slice(0, 3).join(' | ')).toBe(true);
    expect(whileDown.filter((t, n) => !/^(451|454) 4\.3\.0 The message store is unavailable/.test(t) && !(n === 0 && t.startsWith('250'))), 'replies while down').toEqual([]);

    cluster.startServer();
    const upAt = Date.now();
    for (;;) {
      if ((await health()) === 200) break;
      if (Date.now() - upAt > 30_000) throw new Error('healthz did not come back');
      await new Promise((r) => setTimeout(r, 200));
    }
    const backFrom = replies.length;
    // Until a submission after the return has been answered 250 (the client logs in again first).
    for (const until = Date.now() + 60_000; !replies.slice(backFrom).includes(250) && Date.now() < until;) await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    transport.close();
    expect(replies.slice(backFrom).filter((c) => c === 250).length).toBeGreaterThan(0);

    // Every acknowledged message is there, once (a 250 was never given for an uncommitted one).
    const reader = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: fs.readFileSync(caFile(), 'utf8'), servername: 'localhost' }, auth: { user: JL, pass: PW } });
    await reader.connect();
    try {
      await reader.mailboxOpen('INBOX');
      const ids: string[] = [];
      for await (const m of reader.fetch('1:*', { envelope: true })) ids.push(m.envelope?.messageId ?? '');
      for (const id of acknowledged) expect(ids.filter((x) => x === id), id).toHaveLength(1);
    } finally {
      await reader.logout();
      await imap.logout().catch(() => undefined);
    }
  }, 180_000);
});
