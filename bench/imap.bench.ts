/**
 * IMAP read throughput: login + SELECT + FETCH of N messages with imapflow against `medgate serve`
 * (headers only, then full bodies; first session cold — every message decrypted once and its
 * metadata cached — then warm), next to the raw decryption rate of the same sealed messages
 * measured in-process in the same run, and the server's peak RSS.
 *
 *   npx tsx bench/imap.bench.ts          (MEDGATE_BENCH_MESSAGES=1000 by default)
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import * as openpgp from 'openpgp';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { loadConfig } from '../src/config/load.js';
import { createContext } from '../src/context.js';
import { SealPool } from '../src/message/worker/seal-pool.js';
import { DeliveryService } from '../src/smtp/delivery.js';
import { prepareGateway, startServe, tempDir, writeGatewayConfig } from '../test/helpers/gateway.js';

const N = Number(process.env['MEDGATE_BENCH_MESSAGES'] ?? '1000');
const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'bench password 2026';

function rate(n: number, ms: number): string {
  return `${(n / (ms / 1000)).toFixed(1)} msg/s`;
}

async function main(): Promise<void> {
  const dir = tempDir('medgate-bench-imap-');
  const configFile = writeGatewayConfig(dir);
  await prepareGateway(configFile, [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }]);

  // Seed N sealed messages (≈20 KB each) into JL's INBOX through the delivery service.
  const ctx = await createContext(loadConfig(configFile), { logDestination: 'stderr' });
  const pool = new SealPool();
  const sealer = await ctx.sealer();
  sealer.usePool(pool);
  const sender = await ctx.accounts.unlock(PAUL, PW);
  const senderEntry = (await ctx.directory.lookup(PAUL))!;
  const rcpt = await sealer.resolveRecipient(JL);
  if (!rcpt.ok) throw new Error('recipient');
  const delivery = new DeliveryService(ctx);
  const seedStart = performance.now();
  const raws: Buffer[] = [];
  for (let i = 0; i < N; i += 16) {
    await Promise.all(Array.from({ length: Math.min(16, N - i) }, async (_, j) => {
      const raw = await new MailComposer({
        from: PAUL, to: JL, subject: `PATIENT: DUPONT Jean 30/01/1959 - resultat ${i + j}`,
        text: 'Compte rendu.\n'.repeat(40), attachments: [{ filename: 'cr.pdf', content: Buffer.alloc(14_000, (i + j) & 0xff) }],
      }).compile().build();
      raws.push(raw);
      await delivery.acceptSubmission({ source: { raw }, sender: { address: PAUL, pgpKey: sender.pgpKey, entry: senderEntry }, envelopeFrom: PAUL, recipients: [rcpt] });
    }));
  }
  console.log(`seeded ${N} messages in ${((performance.now() - seedStart) / 1000).toFixed(1)} s (sealing in ${pool ? 'worker threads' : 'main thread'})`);

  // Raw decryption rate of the same sealed bytes, in-process: openpgp.js decrypt+verify of the body.
  const jl = await ctx.accounts.unlock(JL, PW);
  const inbox = (await ctx.store.mail.getMailbox(JL, 'INBOX'))!;
  const stored = await ctx.store.mail.listMessages(inbox.id);
  const blobs = await Promise.all(stored.map((m) => ctx.store.mail.getBlob(m.blobId)));
  const sample = blobs.slice(0, Math.min(200, blobs.length)) as Buffer[];
  const armored = sample.map((b) => {
    const t = b.toString('latin1');
    const start = t.lastIndexOf('-----BEGIN PGP MESSAGE-----');
    return t.slice(start, t.indexOf('-----END PGP MESSAGE-----', start) + 25);
  });
  const senderPublic = sender.pgpKey.toPublic();
  const rawStart = performance.now();
  for (const a of armored) {
    await openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: a }), decryptionKeys: jl.pgpKey, verificationKeys: senderPublic, format: 'binary' });
  }
  const rawMs = performance.now() - rawStart;
  const rawRate = sample.length / (rawMs / 1000);
  await pool.close();
  await ctx.close();

  const gw = await startServe(configFile);
  const ca = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
  const session = async (label: string) => {
    const client = new ImapFlow({ host: '127.0.0.1', port: gw.ports['imapTls']!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: JL, pass: PW } });
    let t = performance.now();
    await client.connect();
    await client.mailboxOpen('INBOX');
    const loginMs = performance.now() - t;
    t = performance.now();
    let n = 0;
    for await (const _m of client.fetch('1:*', { envelope: true, flags: true, size: true, bodyStructure: true })) n++;
    const headersMs = performance.now() - t;
    t = performance.now();
    let bytes = 0;
    for await (const m of client.fetch('1:*', { source: true })) bytes += m.source?.length ?? 0;
    const bodiesMs = performance.now() - t;
    await client.logout();
    console.log(`${label}: login+select ${(loginMs / 1000).toFixed(2)} s (${rate(n, loginMs)}), headers ${rate(n, headersMs)}, full bodies ${rate(n, bodiesMs)} (${(bytes / 1048576 / (bodiesMs / 1000)).toFixed(1)} MB/s)`);
    return { headers: n / (headersMs / 1000), bodies: n / (bodiesMs / 1000), login: n / (loginMs / 1000) };
  };
  const cold = await session('cold session (first decryption, cache filled)');
  const warm = await session('warm session (metadata from the encrypted cache)');
  const status = fs.readFileSync(`/proc/${gw.child.pid}/status`, 'utf8');
  const peak = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  await gw.stop();
  console.log(`raw openpgp.js decrypt+verify of the same messages: ${rawRate.toFixed(1)} msg/s`);
  console.log(`ratios vs raw decryption: cold login ${(cold.login / rawRate).toFixed(2)}x, warm headers ${(warm.headers / rawRate).toFixed(2)}x, warm full bodies ${(warm.bodies / rawRate).toFixed(2)}x`);
  console.log(`server peak RSS: ${peak ? (Number(peak) / 1024).toFixed(0) : '?'} MB`);
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
