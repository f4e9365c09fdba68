/**
 * kill -9 of a real `medgate serve` under submission load, on each store: every acknowledged
 * message is delivered exactly once after the restart. A is the spawned process that is killed; B,
 * the peer receiving the relayed copies, runs in this process. What the gateways hold is read
 * through the store interfaces (a store opened from A's config beside its process).
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { CLAIRE, JL, PASSWORD, PAUL, caPem, mailboxBlobs, serve, setupTwoGateways, startInProcess, waitFor, type TwoGateways } from './relay-fixture.js';

// Enough in flight to cut submissions short at the kill (8 clients, 40 acknowledged first), few
// enough that the suite runs on both stores in about the time one store took with 240 and 90.
const MESSAGES = 120;
const CLIENTS = 8;
const KILL_AFTER_ACKS = 40;

interface Sent { n: number; to: string[]; queuedAs?: string; error?: string }

function messageIdOf(sealed: Buffer): string {
  const m = /^Message-ID:\s*(<[^>]+>)/im.exec(sealed.subarray(0, 4096).toString('latin1'));
  if (!m) throw new Error('sealed message without Message-ID');
  return m[1]!;
}

function countById(blobs: Buffer[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of blobs) counts.set(messageIdOf(b), (counts.get(messageIdOf(b)) ?? 0) + 1);
  return counts;
}

describeOnStores('crash: kill -9 while messages are being submitted', (store) => {
  let t: TwoGateways;

  beforeAll(async () => {
    // A short lease: the items the killed process had claimed are taken over on restart once it
    // runs out (the 60 s default was most of this test's time, spent waiting).
    t = await setupTwoGateways({ store, inProcess: true, extraUsers: { a: [[JL, '10100000041']] }, queue: { pollMs: 50, retryBaseSeconds: 0.2, retryMaxSeconds: 1, leaseSeconds: 3 } });
    // A as a real process (it is killed), B in this process.
    await t.a.release();
    await Promise.all([serve(t.a), startInProcess(t.b)]);
  }, 150_000);
  afterAll(async () => { await t?.cleanup(); });

  it('every message that got a 250 is delivered exactly once after restart; nothing appears twice', async () => {
    const sent: Sent[] = [];
    const ca = caPem(t);
    let acks = 0;
    let killed: Promise<unknown> | undefined;
    const port = t.a.serve!.ports.smtpSubmission!;
    const client = async (c: number): Promise<void> => {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1', port, secure: false, requireTLS: true, pool: true, maxConnections: 1, maxMessages: Infinity,
        auth: { user: PAUL, pass: PASSWORD }, tls: { ca, servername: 'localhost' }, connectionTimeout: 5000, socketTimeout: 20_000,
      });
      for (let n = c; n < MESSAGES; n += CLIENTS) {
        const to = n % 3 === 0 ? [JL] : n % 3 === 1 ? [CLAIRE] : [JL, CLAIRE];
        const s: Sent = { n, to };
        sent.push(s);
        try {
          const raw = [`From: ${PAUL}`, `To: ${to.join(', ')}`, `Subject: Message ${n}`, `Message-ID: <crash-${n}@cabinet-antony.medgate.test>`,
            'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', `Corps du message ${n}.`, ''].join('\r\n');
          const info = await transport.sendMail({ envelope: { from: PAUL, to }, raw });
          s.queuedAs = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
          if (!s.queuedAs) throw new Error(`250 without a queue id: ${info.response}`);
          if (++acks === KILL_AFTER_ACKS) killed = t.a.serve!.stop('SIGKILL');
        } catch (err) {
          s.error = (err as Error).message;
        }
      }
      transport.close();
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_v, c) => client(c)));
    await killed;
    const acked = sent.filter((s) => s.queuedAs);
    const refused = sent.filter((s) => s.error);
    expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(refused.length).toBeGreaterThan(0); // the crash really cut submissions short
    expect(acked.length + refused.length).toBe(MESSAGES);

    await serve(t.a); // restart on the same data directory
    await waitFor(async () => (await (await t.a.store()).queue.list()).every((i) => i.recipients.every((r) => r.status === 'delivered')), 60_000, 'the queue to drain');

    // Map each acknowledged submission ("queued as <id>") to its sealed Message-ID through A's
    // audit trail: the acceptance record, written before the 250, names both.
    const accepted = new Map<string, string>();
    for (const r of await (await t.a.store()).audit.list(1, 100_000)) {
      if (r.action === 'message.accept' && typeof r.details['id'] === 'string' && r.messageId) accepted.set(r.details['id'], r.messageId);
    }
    const sentInbox = countById(await mailboxBlobs(t.a, PAUL, 'Sent'));
    const sealedIdOf = new Map<string, string>();
    for (const s of acked) {
      const id = accepted.get(s.queuedAs!);
      expect(id, `acceptance of acknowledged message ${s.n} in A's audit trail`).toBeDefined();
      // And its Sent copy, once.
      expect(sentInbox.get(id!), `Sent copy of acknowledged message ${s.n}`).toBe(1);
      sealedIdOf.set(s.queuedAs!, id!);
    }

    const jlInbox = countById((await mailboxBlobs(t.a, JL)));
    const claireInbox = countById((await mailboxBlobs(t.b, CLAIRE)));
    for (const s of acked) {
      const id = sealedIdOf.get(s.queuedAs!)!;
      if (s.to.includes(JL)) expect(jlInbox.get(id), `message ${s.n} for ${JL}`).toBe(1);
      if (s.to.includes(CLAIRE)) expect(claireInbox.get(id), `message ${s.n} for ${CLAIRE}`).toBe(1);
    }
    // Nothing twice, acknowledged or not (a message committed just before the kill may be there once).
    expect([...jlInbox.values()].every((c) => c === 1)).toBe(true);
    expect([...claireInbox.values()].every((c) => c === 1)).toBe(true);
    expect(claireInbox.size).toBeLessThanOrEqual(MESSAGES);
  }, 110_000);
});
