/**
 * The line scan put on mailsplit's splitter (src/mime/line-scan.ts) must split exactly as
 * mailsplit's own loop does, for any message cut at any places: the same chunks in the same order,
 * each with the same type, bytes and (for a node) the same headers and the same parse errors. A
 * difference would change what the submission scan, IMAP's BODYSTRUCTURE or the record server's
 * inspection see. The replacement must also still be in place on the mailsplit this repository
 * installs: after an upgrade its fingerprint stops matching, mailsplit keeps its own code, and this
 * test says so.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import mailsplit from '@zone-eu/mailsplit';
import { fastSplitterTransform, installFastMimeLineScan, isCheckedMailsplit, mailsplitTransform } from '../../src/mime/line-scan.js';
import { Splitter } from '../../src/mime/splitter.js';
import { cutAtRandom, seededRandom } from '../helpers/random-cuts.js';

interface Piece { type: string; bytes: string; headers?: string; contentType?: string; multipart?: string | false }

/** Splits `chunks` with a splitter whose _transform is `transform`; what it emitted, or its error. */
async function split(transform: unknown, chunks: Buffer[], options: Record<string, unknown> = {}): Promise<{ pieces: Piece[]; error?: string }> {
  const splitter = new mailsplit.Splitter(options) as unknown as NodeJS.ReadWriteStream & { _transform: unknown };
  splitter._transform = transform;
  const pieces: Piece[] = [];
  return new Promise((resolve) => {
    splitter.on('data', (data: { type: string; value?: Buffer; node?: { getHeaders(): Buffer; contentType?: string; multipart?: string | false } }) => {
      if (data.type === 'node' && data.node) {
        pieces.push({ type: 'node', bytes: '', headers: data.node.getHeaders().toString('latin1'), ...(data.node.contentType !== undefined ? { contentType: data.node.contentType } : {}), multipart: data.node.multipart ?? false });
      } else pieces.push({ type: data.type, bytes: data.value ? data.value.toString('latin1') : '' });
    });
    splitter.on('end', () => resolve({ pieces }));
    splitter.on('error', (err: Error) => resolve({ pieces, error: `${(err as Error & { code?: string }).code ?? ''} ${err.message}` }));
    (async () => {
      for (const c of chunks) {
        const ok = splitter.write(c);
        if (!ok) await new Promise((r) => splitter.once('drain', r));
      }
      splitter.end();
    })().catch(() => {});
  });
}

/** Adjacent chunks of the same type joined: where a chunk is cut depends on the writes, not on the scan. */
function joined(result: { pieces: Piece[]; error?: string }): { pieces: Piece[]; error?: string } {
  const out: Piece[] = [];
  for (const p of result.pieces) {
    const last = out[out.length - 1];
    if (last && p.type !== 'node' && last.type === p.type) last.bytes += p.bytes;
    else out.push({ ...p });
  }
  return { pieces: out, ...(result.error ? { error: result.error } : {}) };
}

const CASES = [
  'Subject: plain\r\n\r\nbody line\r\nlast line',
  'Subject: lf only\n\nbody\nmore\n',
  'Subject: no body',
  'Subject: empty body\r\n\r\n',
  '\r\n\r\nno headers at all\r\n',
  'Subject: bare cr\r\n\r\none\rtwo\r\n\r',
  'Content-Type: multipart/mixed; boundary="b"\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\nAAAA\r\n--b--\r\nepilogue\r\n',
  'Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\ntext\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--i--\r\n--o  \r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--o--',
  'Content-Type: multipart/mixed; boundary=b\n\n--b\n\nlf part\n--b--\n',
  'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nunterminated part without the closing boundary\r\n',
  'Content-Type: multipart/mixed; boundary=b\r\n\r\n--bx\r\nnot a boundary\r\n--b\r\n\r\n\r\n--b--',
  `Subject: long line\r\n\r\n${'x'.repeat(70_000)}\r\nend`,
  `Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n${'y'.repeat(40_000)}\n${'z'.repeat(30_000)}\r\n--b--\r\n`,
  // Refused by mailsplit's limits (EMAXLEN): the same error, after the same chunks.
  `Subject: ${'h'.repeat(1_100_000)}\r\n\r\nbody`,
  `Content-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(1100)}--b--`,
];

describe('MIME line scan', () => {
  it('is in place on the mailsplit this repository installs', () => {
    expect(installFastMimeLineScan()).toBe(true);
    expect((Splitter.prototype as unknown as { _transform: unknown })._transform).toBe(fastSplitterTransform);
    // The kept original is mailsplit's, not ours.
    expect(mailsplitTransform).not.toBe(fastSplitterTransform);
    expect(String(mailsplitTransform)).toContain('chunk[i] !== 0x0a');
  });

  it('is refused when message-splitter.js changes anywhere, not only in the method it replaces', () => {
    // The replacement copies the file's private trimBodyLineEnd and YIELD_BYTES: a release that
    // changed only those would leave the method's fingerprint as it was.
    const original = createRequire(import.meta.url).resolve('@zone-eu/mailsplit/lib/message-splitter.js');
    expect(isCheckedMailsplit(original)).toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-mailsplit-'));
    try {
      const changed = path.join(dir, 'message-splitter.js');
      fs.writeFileSync(changed, fs.readFileSync(original, 'utf8').replace('const YIELD_BYTES = 16 * 1024;', 'const YIELD_BYTES = 32 * 1024;'));
      expect(fs.readFileSync(changed, 'utf8')).toContain('const YIELD_BYTES = 32 * 1024;');
      expect(isCheckedMailsplit(changed)).toBe(false);
      expect(isCheckedMailsplit(path.join(dir, 'missing.js'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('splits hand-picked messages as mailsplit does, whole and cut at every place', async () => {
    let errors = 0;
    for (const text of CASES) {
      const bytes = Buffer.from(text, 'latin1');
      const expected = await split(mailsplitTransform, [bytes]);
      expect(await split(fastSplitterTransform, [bytes]), text.slice(0, 40)).toEqual(expected);
      if (text.length > 1_000_000 || text.includes('x\r\n--b\r\n\r\nx')) expect(expected.error, text.slice(0, 40)).toMatch(/^EMAXLEN /);
      else errors += expected.error ? 1 : 0;
      const cuts = bytes.length > 2000 ? [1, 2, 1000, bytes.length - 7, bytes.length - 1] : [...Array(bytes.length).keys()].slice(1);
      for (const at of cuts) {
        const chunks = [bytes.subarray(0, at), bytes.subarray(at)];
        expect(await split(fastSplitterTransform, chunks), `${text.slice(0, 40)} cut at ${at}`).toEqual(await split(mailsplitTransform, chunks));
      }
    }
    expect(errors, 'only the two over-limit cases are refused').toBe(0);
  });

  it('splits random messages cut at random places as mailsplit does', async () => {
    const pieces = ['\r\n', '\n', '\r', '--b', '--b--', '--c', '--c--', 'x', ' ', 'Content-Type: multipart/mixed; boundary=c', 'Content-Type: text/plain',
      'Content-Transfer-Encoding: base64', 'Subject: s', ':', 'QUJD', '\t', '.', ''];
    let compared = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const next = seededRandom(seed);
      const parts = ['Content-Type: multipart/mixed; boundary=b\r\n\r\n'];
      const n = 5 + Math.floor(next() * 80);
      for (let k = 0; k < n; k++) parts.push(next() < 0.1 ? 'a'.repeat(Math.floor(next() * 3000)) : pieces[Math.floor(next() * pieces.length)]!);
      const bytes = Buffer.from(parts.join(''), 'latin1');
      const chunks = cutAtRandom(bytes, next, 3, 400);
      const options = next() < 0.3 ? { ignoreEmbedded: true } : {};
      const expected = await split(mailsplitTransform, chunks, options);
      expect(await split(fastSplitterTransform, chunks, options), `seed ${seed}`).toEqual(expected);
      // And the same content whatever the writes: the scan does not depend on where chunks end.
      expect(joined(await split(fastSplitterTransform, [bytes], options)), `seed ${seed}, whole`).toEqual(joined(await split(mailsplitTransform, [bytes], options)));
      compared++;
    }
    expect(compared).toBe(600);
  });
});
