/**
 * The realistic bench mailbox (bench/lib/realistic-mail.ts) is what it claims: the same bytes for
 * the same seed, 5–400 KB messages that mailparser reads back with their text, HTML and accented
 * French, and attachments whose structure holds (PDF xref offsets, PNG chunk CRCs, JPEG segments),
 * written as an mbox imaptest's reader accepts ("From " separators, quoted body lines).
 */
import zlib from 'node:zlib';
import { simpleParser } from 'mailparser';
import { describe, expect, test } from 'vitest';
import { generateRealisticMessages, toMbox, type RealisticMessage } from '../../bench/lib/realistic-mail.js';

function checkPdf(b: Buffer): void {
  const s = b.toString('latin1');
  expect(s.startsWith('%PDF-1.4\n')).toBe(true);
  expect(s.endsWith('%%EOF\n')).toBe(true);
  const startxref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(s)![1]);
  expect(s.slice(startxref, startxref + 5)).toBe('xref\n');
  const entries = s.slice(startxref).split('\n').slice(3, 9);
  entries.forEach((e, i) => {
    expect(e).toMatch(/^\d{10} 00000 n $/);
    expect(s.slice(Number(e.slice(0, 10)), Number(e.slice(0, 10)) + 8)).toBe(`${i + 1} 0 obj\n`);
  });
  // Each stream's /Length is what lies between "stream\n" and "\nendstream", and the image inflates to W×H.
  const img = /\/Width (\d+) \/Height (\d+) .*\/Length (\d+) >>\nstream\n/.exec(s)!;
  const at = img.index + img[0].length;
  const len = Number(img[3]);
  expect(s.slice(at + len, at + len + 10)).toBe('\nendstream');
  expect(zlib.inflateSync(b.subarray(at, at + len)).length).toBe(Number(img[1]) * Number(img[2]));
}

function checkPng(b: Buffer): void {
  expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let o = 8;
  const types: string[] = [];
  let idat = Buffer.alloc(0);
  let w = 0;
  let h = 0;
  while (o < b.length) {
    const len = b.readUInt32BE(o);
    const type = b.subarray(o + 4, o + 8).toString('latin1');
    const data = b.subarray(o + 8, o + 8 + len);
    expect(b.readUInt32BE(o + 8 + len)).toBe(zlib.crc32(b.subarray(o + 4, o + 8 + len)));
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); }
    if (type === 'IDAT') idat = Buffer.concat([idat, data]);
    types.push(type);
    o += 12 + len;
  }
  expect(o).toBe(b.length);
  expect(types[0]).toBe('IHDR');
  expect(types.at(-1)).toBe('IEND');
  expect(zlib.inflateSync(idat).length).toBe(h * (1 + w * 3));
}

function checkJpeg(b: Buffer): void {
  expect(b.readUInt16BE(0)).toBe(0xffd8);
  expect(b.readUInt16BE(b.length - 2)).toBe(0xffd9);
  let o = 2;
  const markers: number[] = [];
  for (;;) {
    const marker = b.readUInt16BE(o);
    markers.push(marker);
    o += 2 + b.readUInt16BE(o + 2);
    if (marker === 0xffda) break;
  }
  expect(markers).toEqual([0xffe0, 0xffdb, 0xffc0, 0xffc4, 0xffda]);
  // In the scan every 0xFF is stuffed (followed by 0x00): no stray marker before EOI.
  const scan = b.subarray(o, b.length - 2);
  for (let i = scan.indexOf(0xff); i >= 0; i = scan.indexOf(0xff, i + 2)) expect(scan[i + 1]).toBe(0);
}

describe('realistic bench mailbox', () => {
  let messages: RealisticMessage[];

  test('the same seed gives the same bytes; another seed other bytes', async () => {
    messages = await generateRealisticMessages({ seed: 'test-31', messages: 24 });
    const again = await generateRealisticMessages({ seed: 'test-31', messages: 24 });
    const other = await generateRealisticMessages({ seed: 'test-32', messages: 24 });
    expect(Buffer.compare(toMbox(messages), toMbox(again))).toBe(0);
    expect(Buffer.compare(toMbox(messages), toMbox(other))).not.toBe(0);
  });

  test('5–400 KB messages with text, HTML, accents and valid PDF/PNG/JPEG attachments', async () => {
    const seen = new Set<string>();
    for (const m of messages) {
      expect(m.bytes.length).toBeGreaterThanOrEqual(5 * 1024);
      expect(m.bytes.length).toBeLessThanOrEqual(400 * 1024);
      expect(Math.abs(m.bytes.length - m.target)).toBeLessThan(m.kind === 'letter' ? 8 * 1024 : 2 * 1024);
      const parsed = await simpleParser(m.bytes);
      expect(parsed.text).toMatch(/[éèàçôœ]/);
      expect(parsed.html).toContain('</html>');
      expect(parsed.subject).toMatch(/\S/);
      expect(parsed.messageId).toMatch(/^<bench-test-31-\d+\./);
      expect(parsed.attachments.map((a) => [a.contentType, a.size])).toEqual(m.attachments.map((a) => [a.contentType, a.size]));
      for (const a of parsed.attachments) {
        seen.add(a.contentType);
        if (a.contentType === 'application/pdf') checkPdf(a.content);
        else if (a.contentType === 'image/png') checkPng(a.content);
        else if (a.contentType === 'image/jpeg') checkJpeg(a.content);
        else throw new Error(`unexpected attachment ${a.contentType}`);
      }
    }
    expect([...seen].sort()).toEqual(['application/pdf', 'image/jpeg', 'image/png']);
    expect(new Set(messages.map((m) => m.kind)).size).toBeGreaterThanOrEqual(4);
  });

  test('the mbox has one "From " line per message and no unquoted body line that starts one', () => {
    const mbox = toMbox(messages).toString('latin1');
    const fromLines = mbox.split('\n').filter((l) => l.startsWith('From '));
    expect(fromLines).toHaveLength(messages.length);
    for (const l of fromLines) expect(l).toMatch(/^From \S+@\S+ {2}(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d 2026$/);
    expect(mbox).not.toContain('\r\n');
  });
});
