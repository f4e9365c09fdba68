/**
 * A minimal IMAP client over TLS for timing one FETCH literal exactly (issue 31: the streamed
 * FETCH), with no client library buffering in between. Used by test/imap/large-fetch.test.ts and
 * bench/memory.bench.ts.
 */
import { createHash } from 'node:crypto';
import tls from 'node:tls';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface FetchTiming {
  /** ms from the command to the first literal byte, to the last one. */
  first: number;
  last: number;
  size: number;
  received: number;
  literalSha: string;
  /** The literal's last `tail` bytes' hash and first 200 bytes, to compare with the message. */
  tailSha: string;
  head: string;
  closed: boolean;
  tagged: string;
}

/** A minimal IMAP client over TLS: exact timing of one FETCH literal, no client library in between. */
export class RawImap {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  closed = false;
  private constructor(private readonly sock: tls.TLSSocket) {
    sock.on('data', (d: Buffer) => { this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d; this.wake?.(); });
    sock.on('close', () => { this.closed = true; this.wake?.(); });
    sock.on('error', () => undefined);
  }

  static async connect(port: number, ca: string): Promise<RawImap> {
    const sock = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => { sock.once('secureConnect', () => resolve()); sock.once('error', reject); });
    const c = new RawImap(sock);
    await c.line();
    return c;
  }

  private async more(): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    await new Promise<void>((r) => { this.wake = r; });
    this.wake = null;
  }

  async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) { const l = this.buf.toString('latin1', 0, i); this.buf = this.buf.subarray(i + 2); return l; }
      await this.more();
    }
  }

  /** Sends a command and reads lines (literals skipped) until its tagged reply. */
  async command(tag: string, text: string): Promise<string[]> {
    this.sock.write(`${tag} ${text}\r\n`);
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      lines.push(l);
      const lit = /\{(\d+)\}$/.exec(l);
      if (lit) lines.push((await this.skip(Number(lit[1]))).toString('latin1'));
      if (l.startsWith(`${tag} `)) return lines;
    }
  }

  private async skip(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    while (n > 0) {
      if (!this.buf.length) await this.more();
      const take = this.buf.subarray(0, n);
      parts.push(take);
      n -= take.length;
      this.buf = this.buf.subarray(take.length);
    }
    return Buffer.concat(parts);
  }

  /** `UID FETCH uid (BODY.PEEK[])`, timed: the literal hashed as it arrives. */
  async fetchBody(uid: number, tail: number): Promise<FetchTiming> {
    const t0 = performance.now();
    this.sock.write(`f UID FETCH ${uid} (BODY.PEEK[])\r\n`);
    let header = '';
    for (;;) {
      header = await this.line();
      if (/\{\d+\}$/.test(header) || header.startsWith('f ')) break;
    }
    const m = /\{(\d+)\}$/.exec(header);
    if (!m) throw new Error(`no literal: ${header}`);
    const size = Number(m[1]);
    const hash = createHash('sha256');
    const keep: Buffer[] = [];
    let kept = 0;
    let head = '';
    let received = 0;
    let first = 0;
    while (received < size) {
      if (!this.buf.length) {
        try { await this.more(); } catch { break; }
        continue;
      }
      if (!first) first = performance.now() - t0;
      const take = this.buf.subarray(0, size - received);
      this.buf = this.buf.subarray(take.length);
      hash.update(take);
      if (head.length < 200) head += take.toString('latin1', 0, 200);
      keep.push(take);
      kept += take.length;
      while (keep.length && kept - keep[0]!.length >= tail) kept -= keep.shift()!.length;
      received += take.length;
    }
    const last = performance.now() - t0;
    let tagged = '';
    if (received === size) {
      try { for (;;) { const l = await this.line(); if (l.startsWith('f ')) { tagged = l; break; } } } catch { /* closed */ }
    }
    const kb = Buffer.concat(keep);
    return { first, last, size, received, literalSha: hash.digest('hex'), tailSha: sha256(kb.subarray(Math.max(0, kb.length - tail))), head, closed: this.closed, tagged };
  }

  end(): void {
    this.sock.end();
  }
}

