/**
 * Delivering to a peer gateway whose certificate is revoked: TLS checks the chain and our code the
 * name, and the CRL (refreshed before each delivery) refuses it — the message waits in the queue,
 * never reaches the revoked peer, not even over a connection opened before the revocation.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { CLAIRE, PAUL, mailboxBlobs, pendingQueue, revoke, setupTwoGateways, startInProcess, submitter, waitFor, type TwoGateways } from './relay-fixture.js';

describeOnStores('outbound delivery to a revoked peer gateway', (store) => {
  let t: TwoGateways;
  beforeAll(async () => {
    // Both gateways in this process: A's open files are this process's (/proc/self/fd).
    t = await setupTwoGateways({ store, inProcess: true });
    await Promise.all([startInProcess(t.a), startInProcess(t.b)]);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  it('is refused once B\'s certificate is on the CRL, even though A still holds a pooled connection to B; the message stays queued', async () => {
    // A delivers to B first: its pooled connection to B stays open (up to 30 s idle, 100 messages).
    const first = (await mailboxBlobs(t.b, CLAIRE)).length;
    await submitter(t, t.a, PAUL).sendMail({
      envelope: { from: PAUL, to: [CLAIRE] },
      raw: `From: ${PAUL}\r\nTo: ${CLAIRE}\r\nSubject: avant\r\nMessage-ID: <before-revocation@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    await waitFor(async () => (await mailboxBlobs(t.b, CLAIRE)).length > first, 30_000, 'the first message to reach B');

    const bCert = path.join(t.b.dir, 'data', 'tls', 'gateway.crt.pem');
    const serial = execFileSync('openssl', ['x509', '-in', bCert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    await revoke(t.a, serial);

    const before = (await mailboxBlobs(t.b, CLAIRE)).length;
    const info = await submitter(t, t.a, PAUL).sendMail({
      envelope: { from: PAUL, to: [CLAIRE] },
      raw: `From: ${PAUL}\r\nTo: ${CLAIRE}\r\nSubject: avis\r\nMessage-ID: <revoked-peer@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    expect(info.response).toMatch(/^250 /);
    // What `medgate queue list` shows: the recipient pending, its last error the revocation.
    const refused = await waitFor(async () => (await pendingQueue(t.a)).flatMap((i) => i.recipients).find((r) => /revoked/.test(r.lastError ?? '')), 30_000, 'a delivery attempt refused for revocation');
    expect(refused).toMatchObject({ recipient: CLAIRE, status: 'pending' });
    expect((await mailboxBlobs(t.b, CLAIRE))).toHaveLength(before);
  }, 90_000);

  it('retrying a large message to the refused peer does not leak an open file per attempt', async () => {
    // (B's certificate is revoked by the test above: every attempt fails at the handshake, before
    // nodemailer reads the message — the case where an unread blob stream stayed open.)
    const openFiles = () => fs.readdirSync('/proc/self/fd').length;
    const body = `${'x'.repeat(76)}\r\n`.repeat(30_000); // 2.3 MB: stored as a file, streamed to peers
    await submitter(t, t.a, PAUL).sendMail({
      envelope: { from: PAUL, to: [CLAIRE] },
      raw: `From: ${PAUL}\r\nTo: ${CLAIRE}\r\nSubject: gros\r\nMessage-ID: <large-revoked@cabinet-antony.medgate.test>\r\n\r\n${body}`,
    });
    // Attempts of the queued items (the small one from the test above retries alongside).
    const maxAttempts = async (): Promise<number> => Math.min(...(await pendingQueue(t.a)).map((i) => i.recipients[0]!.attempts));
    await waitFor(async () => (await maxAttempts()) >= 2, 30_000, 'first attempts');
    const before = openFiles();
    const startAttempts = await maxAttempts();
    await waitFor(async () => (await maxAttempts()) >= startAttempts + 6, 60_000, 'six more attempts');
    expect(openFiles() - before).toBeLessThan(4);
  }, 120_000);
});
