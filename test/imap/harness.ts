/** Test harness: a self-signed certificate made with openssl, a MemoryBackend and a server on ephemeral ports. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { MemoryBackend } from '../../src/imap/memory-backend.js';
import { createImapServer, type ImapServer } from '../../src/imap/server.js';
import type { AuthEvent, ImapLimits } from '../../src/imap/types.js';

export const USER = 'dr.martin@cabinet.example';
export const PASSWORD = 'correct horse battery staple';

export function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'medgate-imap-cert-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'k'), 'utf8'), cert: readFileSync(join(dir, 'c'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Harness {
  backend: MemoryBackend;
  server: ImapServer;
  tlsPort: number;
  starttlsPort: number;
  authEvents: AuthEvent[];
  client(opts?: { user?: string; pass?: string }): Promise<ImapFlow>;
  close(): Promise<void>;
}

export async function startHarness(limits: Partial<ImapLimits> = {}): Promise<Harness> {
  const backend = new MemoryBackend();
  backend.addUser(USER, PASSWORD);
  const authEvents: AuthEvent[] = [];
  const server = createImapServer({
    backend,
    tls: makeCertificate(),
    host: '127.0.0.1',
    starttlsPort: 0,
    tlsPort: 0,
    limits: { authFailureDelayMs: 0, ...limits },
    onAuthEvent: (event) => authEvents.push(event),
  });
  const ports = await server.listen();
  const clients: ImapFlow[] = [];
  return {
    backend,
    server,
    tlsPort: ports.tlsPort as number,
    starttlsPort: ports.starttlsPort as number,
    authEvents,
    async client(opts = {}) {
      const client = new ImapFlow({
        host: '127.0.0.1',
        port: ports.tlsPort as number,
        secure: true,
        tls: { rejectUnauthorized: false },
        auth: { user: opts.user ?? USER, pass: opts.pass ?? PASSWORD },
        logger: false,
      });
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
      await server.close();
    },
  };
}

/** A raw protocol client over TLS or clear text, for robustness tests. */
export class RawClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => {
      this.buffer += data.toString('latin1');
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((w) => w());
  }

  static async tls(port: number): Promise<RawClient> {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    await client.waitFor(/^\* OK .*\r\n/m);
    return client;
  }

  static async plain(port: number): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    await client.waitFor(/^\* OK .*\r\n/m);
    return client;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until the received text matches; returns everything received so far and clears it. */
  async waitFor(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.buffer)) {
      if (this.closed) throw new Error(`connection closed while waiting for ${pattern}; got: ${this.buffer}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${pattern}; got: ${this.buffer}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const text = this.buffer;
    this.buffer = '';
    return text;
  }

  async command(tag: string, text: string): Promise<string> {
    this.write(`${tag} ${text}\r\n`);
    return this.waitFor(new RegExp(`^${tag} (OK|NO|BAD).*\\r\\n`, 'm'));
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.closed) throw new Error('connection still open');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
