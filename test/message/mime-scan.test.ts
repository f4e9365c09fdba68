/**
 * The submission scan (src/message/mime-scan.ts) against mailparser, the parser it stands in for
 * on the seal path: for every message here — hand-built MIME covering charsets, transfer encodings,
 * format=flowed, dispositions, filenames in every encoding, the samples, and seeded mutations of
 * them — the scan either hands the message to mailparser or gives exactly what mailparser gives
 * (headers, subject, text, attachments, and the content of every attachment extraction reads).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { MedgateError } from '../../src/errors.js';
import { scanForExtraction } from '../../src/message/mime-scan.js';
import { DEFAULT_PARSE_LIMITS, MESSAGE_PARSE_TIMEOUT, MESSAGE_TOO_LARGE, parseForExtraction, type ExtractionInput } from '../../src/message/parse.js';
import { extractionKeepLimit, parseFileForExtraction } from '../../src/message/parse-stream.js';
import { parseSubmission, parseSubmissionFile } from '../../src/message/parse-submission.js';
import { buildXdmZip, composeMessage, sample, seededRandom, SMALL_PDF } from './fixtures.js';

const CRLF = '\r\n';
const HEAD = ['From: Dr Paul DEMO <paul.demo@cabinet-antony.medgate.test>', 'To: rmp@rmp.medgate.test', 'Date: Thu, 03 Dec 2026 10:00:00 +0100', 'Message-ID: <scan@test>', 'MIME-Version: 1.0'];

function mime(headers: string[], body: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([...HEAD, ...headers].join(CRLF) + CRLF + CRLF, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}

function multipart(type: string, parts: Array<{ headers: string[]; body: string | Buffer }>, extra: string[] = []): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--b${CRLF}${p.headers.join(CRLF)}${CRLF}${CRLF}`, 'latin1'), Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body, 'latin1'), Buffer.from(CRLF, 'latin1'));
  }
  chunks.push(Buffer.from(`--b--${CRLF}`, 'latin1'));
  return mime([`Content-Type: ${type}; boundary="b"`, ...extra], Buffer.concat(chunks));
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64').replace(/.{76}/g, `$&${CRLF}`);
const HPRIM_LATIN1 = sample('hprim-biologie.latin1.txt');
const HPRIM = sample('hprim-biologie.txt');
const ZIP = buildXdmZip();

/** Hand-built messages, each a case mailparser and the scan must agree on. */
function corpus(): Array<[string, Buffer]> {
  const text = 'Bonjour,\r\nrésultats de Mme DURAND Marie née le 12/03/1961.\r\n';
  return [
    ['single part, 8-bit UTF-8, no Content-Type', mime(['Subject: Résultats'], Buffer.from(text, 'utf8'))],
    ['single part latin-1 quoted-printable', mime(['Subject: =?ISO-8859-1?Q?R=E9sultats?=', 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: quoted-printable'], 'Bonjour,=0D=0Ar=E9sultats de Mme DURAND=\r\n Marie\r\n')],
    ['windows-1252 base64', mime(['Subject: =?utf-8?B?' + Buffer.from('Compte rendu – écho').toString('base64') + '?=', 'Content-Type: text/plain; charset=windows-1252', 'Content-Transfer-Encoding: base64'], b64(Buffer.from([0x93, 0x63, 0x61, 0x73, 0x94, 0x20, 0xe9, 0x0d, 0x0a])))],
    ['format=flowed delsp', mime(['Subject: flowed', 'Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes'], 'Une ligne coup \r\nee en deux.\r\n> cit \r\n> ation\r\n')],
    ['format=flowed no delsp', mime(['Subject: flowed2', 'Content-Type: text/plain; format=flowed'], 'Une ligne \r\ncoupee.\r\n-- \r\nsignature\r\n')],
    ['unknown charset', mime(['Subject: x', 'Content-Type: text/plain; charset=x-unknown-42'], 'caf\xe9\r\n')],
    ['duplicate and 8-bit subject', mime(['Subject: Première', 'Subject: Seconde', 'X-Tag: a', 'X-Tag: b'], 'corps\r\n')],
    ['empty body', mime(['Subject: vide'], '')],
    ['text + PDF + HPRIM latin-1 + zip', multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit'], body: Buffer.from(text, 'utf8') },
      { headers: ['Content-Type: application/pdf; name="cr.pdf"', 'Content-Disposition: attachment; filename="cr.pdf"', 'Content-Transfer-Encoding: base64'], body: b64(SMALL_PDF) },
      { headers: ['Content-Type: text/plain; charset=iso-8859-1; name="bio.hpr"', 'Content-Disposition: attachment; filename="bio.hpr"', 'Content-Transfer-Encoding: quoted-printable'], body: HPRIM_LATIN1.toString('latin1').replace(/[\x80-\xff=]/g, (c) => '=' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')).replace(/\r?\n/g, '=0D=0A=\r\n') },
      { headers: ['Content-Type: application/zip; name="IHE_XDM.ZIP"', 'Content-Disposition: attachment; filename="IHE_XDM.ZIP"', 'Content-Transfer-Encoding: base64'], body: b64(ZIP) },
    ])],
    ['octet-stream named .pdf, .hpr and .zip (type from the name)', multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain'], body: 'voir pj' },
      { headers: ['Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="a.pdf"', 'Content-Transfer-Encoding: base64'], body: b64(SMALL_PDF) },
      { headers: ['Content-Type: application/octet-stream; name="r.hpr"', 'Content-Transfer-Encoding: base64'], body: b64(HPRIM) },
      { headers: ['Content-Type: application/octet-stream; name="x.zip"', 'Content-Transfer-Encoding: base64'], body: b64(ZIP) },
    ])],
    ['filenames: RFC 2231, encoded word, continuation', multipart('multipart/mixed', [
      { headers: ['Content-Type: application/pdf', "Content-Disposition: attachment; filename*=utf-8''compte%20rendu%20%C3%A9cho.pdf", 'Content-Transfer-Encoding: base64'], body: b64(SMALL_PDF) },
      { headers: ['Content-Type: text/plain; name="=?utf-8?Q?r=C3=A9sultat.hpr?="', 'Content-Disposition: attachment'], body: HPRIM.toString('latin1') },
      { headers: ['Content-Type: application/pdf', 'Content-Disposition: attachment; filename*0="long"; filename*1="name.pdf"', 'Content-Transfer-Encoding: base64'], body: b64(SMALL_PDF) },
    ])],
    ['inline PDF, odd disposition, part without Content-Type, empty part', multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain; charset=us-ascii'], body: 'un' },
      { headers: ['Content-Type: application/pdf', 'Content-Disposition: inline', 'Content-Transfer-Encoding: base64'], body: b64(SMALL_PDF) },
      { headers: ['Content-Type: image/png', 'Content-Disposition: weird-value; filename="i.png"', 'Content-Transfer-Encoding: base64'], body: b64(Buffer.from('png')) },
      { headers: ['X-Nothing: here'], body: 'deux' },
      { headers: ['Content-Type: text/plain', 'Content-Disposition: attachment; filename="vide.txt"'], body: '' },
      { headers: ['Content-Type: application/pdf', 'Content-Disposition: attachment; filename="vide.pdf"'], body: '' },
    ])],
    ['several text parts, nested alternative of plain only', multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain'], body: 'premier' },
      { headers: ['Content-Type: multipart/alternative; boundary="c"'], body: `--c${CRLF}Content-Type: text/plain${CRLF}${CRLF}alt un${CRLF}--c${CRLF}Content-Type: text/plain; charset=iso-8859-1${CRLF}${CRLF}alt d\xe9ux${CRLF}--c--` },
      { headers: ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64'], body: b64('troisième\nligne') },
    ])],
    ['LF line ends only', Buffer.from(multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain'], body: 'lf\r\nseul' },
      { headers: ['Content-Type: text/plain; name="b.hpr"', 'Content-Disposition: attachment'], body: HPRIM.toString('latin1') },
    ]).toString('latin1').replace(/\r\n/g, '\n'), 'latin1')],
    ['no closing boundary, bad base64', Buffer.from(multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain', 'Content-Transfer-Encoding: base64'], body: 'Ym9u!!am91cg==\r\n***' },
      { headers: ['Content-Type: application/zip; name="z.zip"', 'Content-Transfer-Encoding: base64'], body: b64(ZIP).slice(0, 200) },
    ]).toString('latin1').replace(/--b--\r\n$/, ''), 'latin1')],
    ['a zip too large to keep', multipart('multipart/mixed', [
      { headers: ['Content-Type: text/plain'], body: 'gros' },
      { headers: ['Content-Type: application/zip; name="big.zip"', 'Content-Transfer-Encoding: base64'], body: b64(Buffer.from(zipSync({ 'a.bin': new Uint8Array(0) }, { level: 0 }))) },
    ])],
    ['the Outlook sample', sample('subject-tag-outlook.eml')],
    // Handed to mailparser (not compared field by field, but must come out the same through parseSubmission):
    ['HTML alternative', multipart('multipart/alternative', [{ headers: ['Content-Type: text/plain'], body: 'texte' }, { headers: ['Content-Type: text/html'], body: '<p>texte</p>' }])],
    ['embedded message', multipart('multipart/mixed', [{ headers: ['Content-Type: text/plain'], body: 'fwd' }, { headers: ['Content-Type: message/rfc822'], body: mime(['Subject: inner'], 'inner body') }])],
  ];
}

/** What must agree: attachments that extraction never reads compare by "nothing kept" only. */
function normalise(x: ExtractionInput) {
  return {
    headers: [...x.headers.entries()],
    subject: x.subject,
    textBody: x.textBody,
    attachments: x.attachments.map((a) => {
      const keep = extractionKeepLimit(a);
      return {
        filename: a.filename, contentType: a.contentType,
        ...(keep > 0 ? { content: a.omitted ? null : a.content.toString('base64'), omitted: !!a.omitted } : { kept: a.omitted ? 0 : a.content.length }),
      };
    }),
  };
}

/** mailparser's answer, as parseFileForExtraction gives it (what extraction reads, nothing more). */
async function reference(raw: Buffer): Promise<ExtractionInput | { error: string }> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-scan-')), 'm.eml');
  fs.writeFileSync(file, raw);
  try {
    return await parseFileForExtraction(file, { timeoutMs: 5000 });
  } catch (err) {
    return { error: err instanceof MedgateError ? err.code : String(err) };
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

async function compare(name: string, raw: Buffer): Promise<'same' | 'handed on'> {
  const want = await reference(raw);
  let scanned: ExtractionInput | undefined;
  try {
    scanned = await scanForExtraction(raw, DEFAULT_PARSE_LIMITS, extractionKeepLimit);
  } catch (err) {
    expect({ name, error: err instanceof MedgateError ? err.code : String(err) }).toEqual({ name, ...(want as { error: string }) });
    return 'same';
  }
  if (!scanned) return 'handed on';
  if ('error' in want) {
    // mailparser refused what the scan read: only a message with no header field may differ this way.
    expect({ name, error: want.error }).toEqual({ name, error: 'MESSAGE_MALFORMED' });
    return 'same';
  }
  expect({ name, ...normalise(scanned) }).toEqual({ name, ...normalise(want) });
  return 'same';
}

describe('submission scan ≡ mailparser', () => {
  it('gives what mailparser gives on every hand-built case, and hands on HTML and embedded messages', async () => {
    const outcomes: Record<string, string> = {};
    for (const [name, raw] of corpus()) outcomes[name] = await compare(name, raw);
    expect(outcomes['HTML alternative']).toBe('handed on');
    expect(outcomes['embedded message']).toBe('handed on');
    // Everything else is scanned, not handed on: the fast path is really taken.
    expect(Object.entries(outcomes).filter(([n, o]) => o === 'handed on' && !['HTML alternative', 'embedded message'].includes(n))).toEqual([]);
  }, 60_000);

  it('agrees on seeded mutations of those messages (flipped, cut, duplicated lines)', async () => {
    const rand = seededRandom(20261204);
    const base = corpus().map(([, raw]) => raw);
    let scanned = 0;
    for (let i = 0; i < 300; i++) {
      const src = base[Math.floor(rand() * base.length)]!;
      const lines = src.toString('latin1').split('\n');
      const kind = Math.floor(rand() * 4);
      if (kind === 0) lines.splice(Math.floor(rand() * lines.length), 1);
      else if (kind === 1) lines.splice(Math.floor(rand() * lines.length), 0, lines[Math.floor(rand() * lines.length)]!);
      else if (kind === 2) lines.length = Math.max(1, Math.floor(rand() * lines.length));
      let raw = Buffer.from(lines.join('\n'), 'latin1');
      if (kind === 3) { raw = Buffer.from(raw); for (let k = 0; k < 5; k++) raw[Math.floor(rand() * raw.length)] = Math.floor(rand() * 256); }
      if ((await compare(`mutation ${i} (kind ${kind})`, raw)) === 'same') scanned++;
    }
    expect(scanned).toBeGreaterThan(200);
  }, 120_000);

  it('parseSubmission and parseSubmissionFile give the same, handed on or not, and keep the limits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-scan-'));
    try {
      for (const [name, raw] of corpus()) {
        const file = path.join(dir, 'm.eml');
        fs.writeFileSync(file, raw);
        expect({ name, ...normalise(await parseSubmission(raw)) }).toEqual({ name, ...normalise(await parseSubmissionFile(file)) });
      }
      const many = await composeMessage({ attachments: Array.from({ length: 4 }, (_, i) => ({ filename: `p${i}.pdf`, content: SMALL_PDF })) });
      await expect(parseSubmission(many, { maxAttachments: 3 })).rejects.toMatchObject({ code: MESSAGE_TOO_LARGE });
      await expect(parseSubmission(many, { maxRawBytes: 100 })).rejects.toMatchObject({ code: MESSAGE_TOO_LARGE });
      // The in-memory mailparser path, for comparison: the same refusal.
      await expect(parseForExtraction(many, { maxAttachments: 3 })).rejects.toMatchObject({ code: MESSAGE_TOO_LARGE });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a scan over its time limit is MESSAGE_PARSE_TIMEOUT, in memory and from a file', async () => {
    const big = await composeMessage({ attachments: Array.from({ length: 40 }, (_, i) => ({ filename: `p${i}.pdf`, content: Buffer.concat(Array(800).fill(SMALL_PDF)) })) });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-scan-'));
    try {
      const file = path.join(dir, 'big.eml');
      fs.writeFileSync(file, big);
      await expect(parseSubmissionFile(file, { timeoutMs: 1 })).rejects.toMatchObject({ code: MESSAGE_PARSE_TIMEOUT });
      await expect(parseSubmission(big, { timeoutMs: 1 })).rejects.toMatchObject({ code: MESSAGE_PARSE_TIMEOUT });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('reads the PDF of a submission without decoding it, the HPRIM and the XDM archive with', async () => {
    const raw = await composeMessage({ attachments: [
      { filename: 'cr.pdf', content: SMALL_PDF, contentType: 'application/pdf' },
      { filename: 'bio.hpr', content: HPRIM, contentType: 'text/plain' },
      { filename: 'IHE_XDM.ZIP', content: ZIP, contentType: 'application/zip' },
    ] });
    const x = (await scanForExtraction(raw, DEFAULT_PARSE_LIMITS, extractionKeepLimit))!;
    expect(x).toBeDefined();
    const [pdf, hpr, zip] = x.attachments;
    expect(pdf).toMatchObject({ filename: 'cr.pdf', contentType: 'application/pdf', content: Buffer.alloc(0) });
    expect(pdf!.omitted!.size).toBeGreaterThan(SMALL_PDF.length); // the base64 that came, never decoded
    expect(hpr!.content.equals(HPRIM)).toBe(true);
    expect(zip!.content.equals(ZIP)).toBe(true);
  });
});
