/**
 * The Postfix harness itself (test/helpers/postfix.ts): a real Postfix that accepts mail for its
 * domain only over TLS with a client certificate from the test CA, delivers it into a Maildir, logs
 * the verified client certificate, and refuses a client whose certificate fingerprint it was told is
 * revoked (Postfix has no CRL support).
 */
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, type IssuedCertificate, type TestCa } from '../../src/pki/index.js';
import { tempDir } from '../helpers/gateway.js';
import { postfixAvailability, startPostfix, type PostfixInstance } from '../helpers/postfix.js';

const DOMAIN = 'labo-biotest.medgate.test';

describe.skipIf(!postfixAvailability())('Postfix harness (a stand-in MSSanté operator)', () => {
  let root: string;
  let ca: TestCa;
  let postfix: PostfixInstance;
  let client: IssuedCertificate;

  beforeAll(async () => {
    root = tempDir('medgate-postfix-harness-');
    ca = await createTestCa({ dir: path.join(root, 'ca') });
    client = await ca.issue({ profile: 'gateway', commonName: 'gw.cabinet-antony.medgate.test', dnsNames: ['cabinet-antony.medgate.test'] });
    postfix = await startPostfix({ caDir: path.join(root, 'ca'), domain: DOMAIN, mailboxes: ['anne.biologiste'] });
  }, 60_000);
  afterAll(() => {
    postfix?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const transport = (cert?: IssuedCertificate) => nodemailer.createTransport({
    host: '127.0.0.1', port: postfix.port, secure: false, requireTLS: true, name: 'gw.cabinet-antony.medgate.test',
    tls: { ca: ca.certPem, servername: DOMAIN, minVersion: 'TLSv1.2', ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) },
  });

  const waitDelivered = async (n: number): Promise<Buffer[]> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const got = postfix.delivered('anne.biologiste');
      if (got.length >= n) return got;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`nothing delivered; Postfix log:\n${postfix.log()}`);
  };

  it('delivers mail from a client with a test-CA certificate into the Maildir and logs the verified certificate', async () => {
    const info = await transport(client).sendMail({
      envelope: { from: 'paul.demo@cabinet-antony.medgate.test', to: [`anne.biologiste@${DOMAIN}`] },
      raw: `From: paul.demo@cabinet-antony.medgate.test\r\nTo: anne.biologiste@${DOMAIN}\r\nSubject: harness\r\nMessage-ID: <harness-1@test>\r\n\r\nBonjour\r\n`,
    });
    expect(info.response).toMatch(/^250 /);
    const [delivered] = await waitDelivered(1);
    const text = delivered!.toString();
    expect(text).toContain('Message-ID: <harness-1@test>');
    // smtpd_tls_received_header: the client's certificate as Postfix verified it.
    expect(text).toMatch(/Client CN "gw\.cabinet-antony\.medgate\.test", Issuer "[^"]+" \(verified OK\)/);
    expect(postfix.log()).toMatch(/smtpd\[\d+\]: Trusted TLS connection established from localhost\[127\.0\.0\.1\]/);
  });

  it('refuses a client without a certificate', async () => {
    await expect(transport().sendMail({
      envelope: { from: 'x@cabinet-antony.medgate.test', to: [`anne.biologiste@${DOMAIN}`] }, raw: 'Subject: x\r\n\r\nx\r\n',
    })).rejects.toThrow(/certificate|4\d\d|5\d\d/i);
  });

  it('refuses a client certificate whose fingerprint is listed as revoked', async () => {
    postfix.revokeClientFingerprint(client.fingerprint256);
    await expect(transport(client).sendMail({
      envelope: { from: 'paul.demo@cabinet-antony.medgate.test', to: [`anne.biologiste@${DOMAIN}`] }, raw: 'Subject: x\r\n\r\nx\r\n',
    })).rejects.toMatchObject({ responseCode: 554 });
  });
});
