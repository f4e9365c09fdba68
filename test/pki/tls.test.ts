import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, derToPem, validateCertificate, type IssuedCertificate, type TestCa } from '../../src/pki/index.js';
import { makeTempDir, removeDir } from './helpers.js';

interface MutualTlsServer {
  port: number;
  /** CN of each client certificate the server accepted. */
  accepted: string[];
  /** Client certificates as PEM, for re-validation by medgate itself. */
  acceptedPems: string[];
  refusals: string[];
  /** Resolves with the server-side reason once the server has refused `count` handshakes in all. */
  refusal(count: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * `strict`: Node refuses unverified clients inside the handshake (rejectUnauthorized), which is what
 * production listeners do, but then only reports "socket hang up". `inspect`: the handshake completes
 * and the server drops unverified clients itself, recording OpenSSL's reason (to prove *why*).
 */
async function startMutualTlsServer(
  identity: IssuedCertificate,
  caPem: string,
  mode: 'strict' | 'inspect' = 'strict',
): Promise<MutualTlsServer> {
  const accepted: string[] = [];
  const acceptedPems: string[] = [];
  const refusals: string[] = [];
  const server = tls.createServer(
    {
      key: identity.keyPem,
      cert: identity.certPem,
      ca: [caPem],
      requestCert: true,
      rejectUnauthorized: mode === 'strict',
    },
    (socket) => {
      if (!socket.authorized) {
        recordRefusal(String(socket.authorizationError));
        socket.destroy();
        return;
      }
      const peer = socket.getPeerCertificate();
      accepted.push(String(peer.subject.CN));
      acceptedPems.push(derToPem(peer.raw, 'CERTIFICATE'));
      socket.end('hello');
    },
  );
  const waiters: Array<() => void> = [];
  function recordRefusal(reason: string): void {
    refusals.push(reason);
    for (const wake of waiters.splice(0)) wake();
  }
  server.on('tlsClientError', (err) => recordRefusal(err.message));
  const refusal = async (count: number): Promise<string> => {
    // With TLS 1.3 the client may see the connection close before the server reports why.
    const deadline = Date.now() + 5000;
    while (refusals.length < count) {
      if (Date.now() > deadline) throw new Error(`server refused ${refusals.length} handshakes, expected ${count}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return refusals[count - 1] ?? '';
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    acceptedPems,
    refusals,
    refusal,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type ConnectOutcome = { data: string; error?: string; serverCn?: string };

/** Connects, reads until the server closes; a refused handshake shows up as no data plus an error. */
function connect(port: number, caPem: string, client?: IssuedCertificate): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    let data = '';
    let serverCn: string | undefined;
    let settled = false;
    const done = (error?: Error) => {
      if (settled) return;
      settled = true;
      resolve({ data, ...(error ? { error: error.message } : {}), ...(serverCn ? { serverCn } : {}) });
    };
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: [caPem],
      ...(client ? { key: client.keyPem, cert: client.certPem } : {}),
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('secureConnect', () => {
      serverCn = String(socket.getPeerCertificate().subject.CN);
    });
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('utf8');
    });
    socket.on('error', done);
    socket.on('close', () => done());
  });
}

describe('certificates in a real mutual TLS handshake on 127.0.0.1', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let server: MutualTlsServer;
  let gatewayServer: MutualTlsServer;
  let inspectingServer: MutualTlsServer;
  let serverCert: IssuedCertificate;
  beforeAll(async () => {
    dir = await makeTempDir('tls');
    ca = await createTestCa({ dir: join(dir, 'ca'), commonName: 'TLS test CA' });
    otherCa = await createTestCa({ dir: join(dir, 'other'), commonName: 'TLS test CA' });
    serverCert = await ca.issue({
      profile: 'tls-server',
      commonName: 'imap.cabinet.test',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    server = await startMutualTlsServer(serverCert, ca.certPem);
    inspectingServer = await startMutualTlsServer(serverCert, ca.certPem, 'inspect');
    const gateway = await ca.issue({ profile: 'gateway', commonName: 'gw-a.test', ipAddresses: ['127.0.0.1'] });
    gatewayServer = await startMutualTlsServer(gateway, ca.certPem);
  });
  afterAll(async () => {
    await server.close();
    await gatewayServer.close();
    await inspectingServer.close();
    await removeDir(dir);
  });

  it('succeeds with a server certificate and a client certificate from the CA', async () => {
    const client = await ca.issue({ profile: 'tls-client', commonName: 'LGC app' });
    const outcome = await connect(server.port, ca.certPem, client);
    expect(outcome).toEqual({ data: 'hello', serverCn: 'imap.cabinet.test' });
    expect(server.accepted).toContain('LGC app');
    // What the server received validates with medgate's own validator too.
    const received = server.acceptedPems[server.accepted.indexOf('LGC app')] ?? '';
    const check = await validateCertificate(received, {
      trustAnchorsPem: [ca.certPem],
      crlsPem: [await ca.crlPem()],
      purpose: 'tls-client',
    });
    expect(check.ok).toBe(true);
  });

  it('refuses a client certificate from another CA (even one with the same name)', async () => {
    const before = server.refusals.length;
    const foreign = await otherCa.issue({ profile: 'tls-client', commonName: 'intruder' });
    const outcome = await connect(server.port, ca.certPem, foreign);
    expect(outcome.data).toBe('');
    await server.refusal(before + 1);
    expect(server.accepted).not.toContain('intruder');

    const inspected = await connect(inspectingServer.port, ca.certPem, foreign);
    expect(inspected.data).toBe('');
    const why = await inspectingServer.refusal(1);
    expect(why).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|signature/i);
  });

  it('refuses a client that presents no certificate', async () => {
    const before = server.refusals.length;
    const outcome = await connect(server.port, ca.certPem);
    expect(outcome.data).toBe('');
    await server.refusal(before + 1);
  });

  it('refuses a server-only certificate presented as a client certificate', async () => {
    const before = server.refusals.length;
    const wrongPurpose = await ca.issue({ profile: 'tls-server', commonName: 'srv-as-client', dnsNames: ['x.test'] });
    const outcome = await connect(server.port, ca.certPem, wrongPurpose);
    expect(outcome.data).toBe('');
    await server.refusal(before + 1);
    expect(server.accepted).not.toContain('srv-as-client');

    const inspectedBefore = inspectingServer.refusals.length;
    const inspected = await connect(inspectingServer.port, ca.certPem, wrongPurpose);
    expect(inspected.data).toBe('');
    const why = await inspectingServer.refusal(inspectedBefore + 1);
    expect(why).toMatch(/INVALID_PURPOSE|purpose/i);
  });

  it('a gateway certificate works as both server and client', async () => {
    const peerGateway = await ca.issue({ profile: 'gateway', commonName: 'gw-b.test', dnsNames: ['gw-b.test'] });
    const outcome = await connect(gatewayServer.port, ca.certPem, peerGateway);
    expect(outcome).toEqual({ data: 'hello', serverCn: 'gw-a.test' });
    expect(gatewayServer.accepted).toContain('gw-b.test');
  });

  it('the client refuses a server whose certificate comes from another CA', async () => {
    const client = await ca.issue({ profile: 'tls-client', commonName: 'careful client' });
    const outcome = await connect(server.port, otherCa.certPem, client);
    expect(outcome.data).toBe('');
    expect(outcome.error).toMatch(/certificate/i);
  });
});
