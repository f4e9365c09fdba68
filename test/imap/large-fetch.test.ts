/**
 * Issue 31, item 2: a large message is FETCHed as a stream. Real gateway (`medgate serve`), a real
 * 25 MB submission through nodemailer, and a raw TLS IMAP client that times the literal: its first
 * bytes arrive long before its last (the message is decrypted as it is sent, not first), the
 * gateway's RSS stays far below the message's size while it is sent, and the bytes are the
 * message's. Then the sealed file is altered on disk (re-armored with a valid CRC-24, so only the
 * OpenPGP integrity check can tell): the FETCH stops mid-literal with the connection closed — the
 * client never holds a complete literal — an audit record says so, and the next FETCH gets the
 * unreadable-message notice, verified before anything is sent. On PostgreSQL (blobs in chunks) a
 * smaller message streams the same. Strict timings belong to bench/memory.bench.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { armorMessage, dearmorMessage } from '../../src/crypto/seal/radix64.js';
import { openStore } from '../../dist/store/index.js';
import { startServe, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe } from '../helpers/in-process-gateway.js';
import { RawImap } from '../helpers/raw-imap.js';
import { describeOnStores } from '../helpers/stores.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');


/** A scanned report: a large base64 PDF, CRLF lines, as nodemailer submits it. */
function largeMessage(id: string, pdfBytes: number): Buffer {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(pdfBytes)]).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    `From: ${PAUL}`, `To: ${JL}`, 'Subject: Compte rendu de scanner thoracique', `Message-ID: <${id}@cabinet-antony.medgate.test>`,
    'Date: Mon, 07 Dec 2026 09:14:02 +0100', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
    '--b', 'Content-Type: text/plain; charset=utf-8', '', 'Compte rendu et images joints.',
    '--b', 'Content-Type: application/pdf; name="scanner.pdf"', 'Content-Transfer-Encoding: base64', '', pdf, '--b--', '',
  ].join('\r\n'), 'latin1');
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** Alters one byte near the end of the OpenPGP ciphertext and re-armors it with a valid CRC-24. */
function tamper(file: string): void {
  const sealed = fs.readFileSync(file, 'latin1');
  const begin = sealed.indexOf('-----BEGIN PGP MESSAGE-----');
  const endMarker = '-----END PGP MESSAGE-----';
  const end = sealed.indexOf(endMarker) + endMarker.length;
  const binary = Buffer.from(dearmorMessage(sealed.slice(begin, end), 'message'));
  binary[binary.length - 40] ^= 0x01;
  const rearmored = armorMessage(binary);
  expect(rearmored.length).toBe(end - begin);
  fs.writeFileSync(file, sealed.slice(0, begin) + rearmored + sealed.slice(end), 'latin1');
}

describeOnStores('FETCH of a large message streams (25 MB on SQLite, 4 MB on PostgreSQL)', (store) => {
  const mb = store === 'sqlite' ? 25 : 4;
  let dir: string;
  let ca: string;
  let gw: ServeProcess;
  let prepared: Awaited<ReturnType<typeof prepareForServe>> | undefined;
  let raw: Buffer;
  let uid: number;

  beforeAll(async () => {
    // Set up through the services `medgate init` / `user add` call (no CLI process per step), then served by a real process.
    prepared = await prepareForServe({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }] });
    dir = prepared.dir;
    ca = fs.readFileSync(prepared.caFile, 'utf8');
    gw = await startServe(prepared.configFile);
    raw = largeMessage(`big-${store}`, Math.round(mb * 1024 * 1024 * 0.74));
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.ports.smtpSubmission, secure: false, requireTLS: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    try {
      const info = await t.sendMail({ envelope: { from: PAUL, to: [JL] }, raw });
      expect(info.rejected).toEqual([]);
    } finally {
      t.close();
    }
  }, 300_000);

  afterAll(async () => {
    await gw?.stop().catch(() => undefined);
    await prepared?.dispose();
  });

  async function login(): Promise<RawImap> {
    const c = await RawImap.connect(gw.ports.imapTls!, ca);
    expect((await c.command('l', `LOGIN ${JL} "${PW}"`)).at(-1)).toMatch(/^l OK/);
    // SELECT lists the message: its first opening (streamed, facts only) happens here.
    const sel = await c.command('s', 'SELECT INBOX');
    expect(sel.at(-1)).toMatch(/^s OK/);
    const fetched = await c.command('u', 'UID FETCH 1:* (UID RFC822.SIZE)');
    uid = Number(/UID (\d+)/.exec(fetched.find((l) => l.includes('RFC822.SIZE'))!)![1]);
    return c;
  }

  it('first bytes long before the last, RSS far below the message size, the message\'s bytes', async () => {
    expect(raw.length).toBeGreaterThan(mb * 1024 * 1024 * 0.95);
    const c = await login();
    const pid = gw.child.pid!;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => { try { peak = Math.max(peak, rssMb(pid)); } catch { /* exited */ } }, 10);
    const r = await c.fetchBody(uid, raw.length);
    clearInterval(sampler);
    c.end();
    const delta = peak - before;
    console.log(`${store} ${(raw.length / 2 ** 20).toFixed(1)} MB: first literal byte after ${r.first.toFixed(0)} ms, last after ${r.last.toFixed(0)} ms; gateway RSS ${before.toFixed(0)} MB → peak ${peak.toFixed(0)} MB (+${delta.toFixed(1)} MB)`);
    expect(r.received).toBe(r.size);
    expect(r.tagged).toMatch(/^f OK/);
    // The verdict fields, then the submitted message byte for byte.
    expect(r.head).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@cabinet-antony\.medgate\.test/);
    expect(r.tailSha).toBe(sha256(raw));
    expect(r.size).toBeGreaterThan(raw.length);
    // Sent as decrypted: whole-message decryption would put the first byte after all the work.
    expect(r.first).toBeLessThan(r.last * 0.5);
    // Memory flat: opening it whole held several copies of it (measured: +2-5× its size).
    if (store === 'sqlite') expect(delta).toBeLessThan((raw.length / 2 ** 20) * 0.5);
  }, 120_000);

  it.skipIf(store !== 'sqlite')('a message altered on disk: connection closed mid-literal, audited, then the unreadable notice', async () => {
    const c = await login();
    // Looked up through the store interface, as the gateway sees it (a second reader beside `serve`).
    const reader = await openStore(prepared!.config, { nodeId: 'test-reader' });
    const inbox = (await reader.mail.getMailbox(JL, 'INBOX'))!;
    const id = (await reader.mail.listMessages(inbox.id))[0]!.blobId;
    tamper(path.join(dir, 'data', 'blobs', id.slice(0, 2), id));

    const r = await c.fetchBody(uid, 64);
    // Most of it went out as it was decrypted; the end never did, and the connection is gone.
    expect(r.received).toBeGreaterThan(r.size / 2);
    expect(r.received).toBeLessThan(r.size);
    expect(r.closed).toBe(true);
    expect(r.tagged).toBe('');

    const rows = (await reader.audit.list()).filter((r) => r.action === 'imap.fetch.stream-aborted');
    await reader.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: JL, outcome: 'failed' });
    expect(rows[0]!.details).toMatchObject({ blobId: id, code: 'CIPHERTEXT_TAMPERED' });

    // The next FETCH opens it whole, before sending anything: the notice, complete, OK.
    const again = await login();
    const res = await again.command('g', `UID FETCH ${uid} (BODY.PEEK[])`);
    again.end();
    expect(res.at(-1)).toMatch(/^g OK/);
    expect(res.join('\n')).toMatch(/BODY\[\] \{\d+\}/);
    expect(res.join('\n')).toContain('Code: CIPHERTEXT_TAMPERED');
  }, 120_000);
});
