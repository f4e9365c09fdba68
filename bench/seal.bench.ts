/**
 * Seal/open throughput of medgate/1 next to the raw openpgp.js sign+encrypt (and decrypt+verify)
 * of the same payload, measured in the same run. Target: seal ≤ 1.5× the raw crypto cost.
 * For 20 KB a breakdown line follows seal: the two OpenPGP operations seal() makes (content to the
 * recipient keys; routing header to those plus the filing key), alone and together, each as a ratio
 * of the raw rate — "both ops" is the floor for seal, what is left above it is medgate's own work.
 *
 *   npx tsx bench/seal.bench.ts            (MEDGATE_BENCH_SECONDS=5 to measure longer; default 2 s per pair)
 */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { open, seal, type ResolveSigner } from '../src/crypto/seal/index.js';
import { signAndEncrypt } from '../src/crypto/seal/pgp.js';

const SECONDS = Number(process.env['MEDGATE_BENCH_SECONDS'] ?? '2');

async function user(email: string) {
  return openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email }], format: 'object' });
}

/** A plausible message of about `size` bytes: headers, short text, one base64 PDF-like attachment. */
function message(size: number): Buffer {
  const attachment = randomBytes(Math.floor((size - 800) * 0.74)).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      'From: paul.demo@cabinet-antony.medgate.test',
      'To: claire.martin@cardio-sceaux.medgate.test',
      'Subject: PATIENT: DUPONT Jean 30/01/1959 - compte rendu',
      'Date: Mon, 23 Nov 2026 09:14:02 +0100',
      'Message-ID: <bench@cabinet-antony.medgate.test>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Compte rendu joint.',
      '--b',
      'Content-Type: application/pdf; name="cr.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--b--',
      '',
    ].join('\r\n'),
  );
}

async function rateOnce(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

/** Alternates the measurements in 5 rounds (so JIT warm-up and GC hit all alike); best round of each. */
async function rates(fns: Array<() => Promise<unknown>>): Promise<number[]> {
  for (const fn of fns) await fn();
  const best = fns.map(() => 0);
  for (let round = 0; round < 5; round++) {
    for (const [i, fn] of fns.entries()) best[i] = Math.max(best[i]!, await rateOnce(fn, SECONDS / 5));
  }
  return best;
}

async function main(): Promise<void> {
  const [sender, recipient, filing] = await Promise.all([user('paul.demo@cabinet-antony.medgate.test'), user('claire.martin@cardio-sceaux.medgate.test'), user('filing@rmp.medgate.test')]);
  const resolveSigner: ResolveSigner = async () => ({ publicKey: sender.publicKey, status: 'active' });
  const recipientKeys = [recipient.publicKey, sender.publicKey];
  console.log(`medgate/1 seal/open benchmark — node ${process.version}, ${SECONDS}s per measurement, keys: v4 Curve25519, 2 recipient keys + 1 filing key`);
  console.log('size      op     medgate msg/s   MB/s   raw openpgp msg/s   MB/s   ratio (raw/medgate time)');
  for (const size of [20 * 1024, 1024 * 1024]) {
    const raw = message(size);
    const mb = raw.length / (1024 * 1024);
    const routingOf = () => ({
      messageId: '<bench@cabinet-antony.medgate.test>',
      patient: { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' },
      document: { type: '11488-4', date: '2026-11-23' },
      sender: { address: 'paul.demo@cabinet-antony.medgate.test' },
      recipients: ['claire.martin@cardio-sceaux.medgate.test'],
    });
    const sealOnce = () =>
      seal({
        raw,
        routing: routingOf(),
        signingKey: sender.privateKey,
        recipientKeys,
        filingKeys: [filing.publicKey],
        envelope: { from: 'paul.demo@cabinet-antony.medgate.test', to: ['claire.martin@cardio-sceaux.medgate.test'] },
      });
    const rawEncrypt = async () =>
      openpgp.encrypt({ message: await openpgp.createMessage({ binary: raw }), encryptionKeys: recipientKeys, signingKeys: sender.privateKey, format: 'armored' });
    const { sealed } = await sealOnce();
    const armored = await rawEncrypt();
    const rawDecrypt = async () =>
      openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: armored }), decryptionKeys: recipient.privateKey, verificationKeys: sender.publicKey, expectSigned: true, format: 'binary' });
    const openOnce = () => open({ sealed, decryptionKey: recipient.privateKey, resolveSigner });

    // The two operations seal() makes, on inputs of the same sizes (routing JSON ~600 bytes).
    const routingJson = Buffer.from(JSON.stringify({ v: 1, ...routingOf(), contentDigest: 'a'.repeat(64), sealedAt: new Date().toISOString() }), 'utf8');
    const contentOp = () => signAndEncrypt(raw, sender.privateKey, recipientKeys, 'binary');
    const routingOp = () => signAndEncrypt(routingJson, sender.privateKey, [...recipientKeys, filing.publicKey], 'binary');
    const bothOps = () => Promise.all([contentOp(), routingOp()]);
    const label = `${(raw.length / 1024).toFixed(0)} KB`.padEnd(9);
    const line = (op: string, m: number, r: number) =>
      console.log(`${label} ${op.padEnd(6)} ${m.toFixed(1).padStart(13)} ${(m * mb).toFixed(2).padStart(6)} ${r.toFixed(1).padStart(19)} ${(r * mb).toFixed(2).padStart(6)}   ${(r / m).toFixed(2)}×`);

    const withBreakdown = size <= 20 * 1024;
    const [s, r, c, g, b] = await rates(withBreakdown ? [sealOnce, rawEncrypt, contentOp, routingOp, bothOps] : [sealOnce, rawEncrypt]);
    line('seal', s!, r!);
    if (withBreakdown) {
      const x = (rate: number) => `${(r! / rate).toFixed(2)}×`;
      console.log(`          breakdown (time / raw time): content op ${x(c!)}, routing op ${x(g!)}, both ops at once ${x(b!)}, seal ${x(s!)}`);
    }
    const [o, d] = await rates([openOnce, rawDecrypt]);
    line('open', o!, d!);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
