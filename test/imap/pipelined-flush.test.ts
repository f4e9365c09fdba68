/**
 * Pipelined commands (imaptest sends 3-7 at a time, Thunderbird several after a SELECT) are answered
 * in one flush: the answers of commands already read are held, corked, until the last of them, so
 * the client gets one TLS record instead of one per command (issue 31: a one-client long session,
 * where each record is a system call and a wake-up on both sides). What must not be held: the
 * answers a client waits for before it can go on — the continuation of IDLE, of a synchronizing
 * literal — and a command that arrives on its own is answered at once, as before.
 */
import tls from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

/** A TLS client that keeps each 'data' event apart: one event per TLS record the server wrote. */
class RecordClient {
  chunks: string[] = [];
  private text = '';
  private waiters: Array<{ test: (text: string) => boolean; resolve: () => void }> = [];
  private constructor(private readonly sock: tls.TLSSocket) {
    sock.on('data', (d: Buffer) => {
      this.chunks.push(d.toString('latin1'));
      this.text += d.toString('latin1');
      this.waiters = this.waiters.filter((w) => (w.test(this.text) ? (w.resolve(), false) : true));
    });
    sock.on('error', () => undefined);
  }

  static async connect(port: number, ca: string): Promise<RecordClient> {
    const sock = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => { sock.once('secureConnect', () => resolve()); sock.once('error', reject); });
    const c = new RecordClient(sock);
    await c.until(/^\* OK/m);
    return c;
  }

  until(pattern: RegExp, ms = 10_000): Promise<void> {
    if (pattern.test(this.text)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${pattern} in:\n${this.text.slice(-2000)}`)), ms);
      this.waiters.push({ test: (t) => pattern.test(t), resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  /** Sends `data` in one write and returns the 'data' events and text received until `done` matches. */
  async send(data: string, done: RegExp): Promise<{ chunks: string[]; text: string }> {
    this.chunks = [];
    this.text = '';
    this.sock.write(data);
    await this.until(done);
    return { chunks: this.chunks, text: this.text };
  }

  close(): void {
    this.sock.destroy();
  }
}

describeOnStores('pipelined commands answered in one flush', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  it('answers six pipelined commands, an APPEND among them, in order and in one TLS record', async () => {
    const c = await RecordClient.connect(gw.ports.imapTls!, gw.caPem);
    try {
      await c.send(`a1 LOGIN ${PAUL} "${PW}"\r\na2 CREATE Pipeline\r\na3 SELECT Pipeline\r\n`, /^a3 OK/m);
      const message = 'From: paul.demo@cabinet-antony.medgate.test\r\nSubject: pipelined\r\n\r\nbody\r\n';
      const batch = [
        'p1 NOOP',
        `p2 APPEND Pipeline {${message.length}+}\r\n${message}`,
        'p3 FETCH 1:* (FLAGS UID)',
        'p4 STORE 1 +FLAGS (\\Flagged)',
        'p5 STATUS INBOX (MESSAGES UIDNEXT)',
        'p6 LIST "" "*"',
      ].map((l) => `${l}\r\n`).join('');
      const { chunks, text } = await c.send(batch, /^p6 OK/m);
      const tagged = text.split('\r\n').filter((l) => /^p\d /.test(l));
      expect(tagged.map((l) => l.slice(0, 5))).toEqual(['p1 OK', 'p2 OK', 'p3 OK', 'p4 OK', 'p5 OK', 'p6 OK']);
      expect(text).toMatch(/^\* 1 EXISTS/m);
      expect(text).toMatch(/^\* 1 FETCH \(FLAGS \([^)]*\\Flagged/m);
      // Before: one record per command (six or more 'data' events). The commands reach the gateway
      // in one TCP segment here; should the network split them, two flushes would still be right.
      expect(chunks.length).toBeLessThanOrEqual(2);
    } finally {
      c.close();
    }
  });

  it('still answers a lone command at once, sends IDLE\'s continuation after pipelined commands, and a synchronizing literal\'s', async () => {
    const c = await RecordClient.connect(gw.ports.imapTls!, gw.caPem);
    try {
      await c.send(`b1 LOGIN ${PAUL} "${PW}"\r\n`, /^b1 OK/m);
      await c.send('b2 SELECT INBOX\r\n', /^b2 OK/m);
      // Pipelined ahead of IDLE: the client waits for "+" before DONE; nothing may stay corked.
      const idle = await c.send('b3 NOOP\r\nb4 IDLE\r\n', /^\+ /m);
      expect(idle.text).toMatch(/^b3 OK/m);
      await c.send('DONE\r\n', /^b4 OK/m);
      // A synchronizing literal after a pipelined command: "+" must come without more input.
      const message = 'Subject: sync\r\n\r\nx\r\n';
      // (The reader asks for the literal as soon as it reads the APPEND line, so "+" may come first.)
      await c.send(`b5 NOOP\r\nb6 APPEND INBOX {${message.length}}\r\n`, /^\+ /m);
      await c.until(/^b5 OK/m);
      await c.send(`${message}\r\n`, /^b6 OK/m);
      const lone = await c.send('b7 NOOP\r\n', /^b7 OK/m);
      expect(lone.text).toMatch(/^b7 OK/m);
    } finally {
      c.close();
    }
  });
});
