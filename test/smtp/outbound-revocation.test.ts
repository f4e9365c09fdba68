/**
 * Delivering to a peer gateway whose certificate is revoked: TLS checks the chain and our code the
 * name, and the CRL (refreshed before each delivery) refuses it — the message waits in the queue,
 * never reaches the revoked peer.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIRE, PAUL, mailboxBlobs, serve, setupTwoGateways, submitter, waitFor, type TwoGateways } from './relay-fixture.js';

describe('outbound delivery to a revoked peer gateway', () => {
  let t: TwoGateways;
  beforeAll(async () => {
    t = await setupTwoGateways();
    await Promise.all([serve(t.a), serve(t.b)]);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  it('is refused at the TLS handshake once B\'s certificate is on the CRL; the message stays queued', async () => {
    const bCert = path.join(t.b.dir, 'data', 'tls', 'gateway.crt.pem');
    const serial = execFileSync('openssl', ['x509', '-in', bCert, '-noout', '-serial']).toString().trim().split('=')[1]!;
    const revoked = await t.a.cli('pki', 'revoke', serial);
    expect(revoked.code, revoked.stderr).toBe(0);

    const before = mailboxBlobs(t.b, CLAIRE).length;
    const info = await submitter(t, t.a, PAUL).sendMail({
      envelope: { from: PAUL, to: [CLAIRE] },
      raw: `From: ${PAUL}\r\nTo: ${CLAIRE}\r\nSubject: avis\r\nMessage-ID: <revoked-peer@cabinet-antony.medgate.test>\r\n\r\nBonjour\r\n`,
    });
    expect(info.response).toMatch(/^250 /);
    const list = await waitFor(async () => {
      const out = (await t.a.cli('queue', 'list')).stdout;
      return /last error: .*revoked/.test(out) ? out : undefined;
    }, 30_000, 'a delivery attempt refused for revocation');
    expect(list).toMatch(new RegExp(`${CLAIRE}\\s+pending`));
    expect(mailboxBlobs(t.b, CLAIRE)).toHaveLength(before);
  }, 90_000);
});
