import { describe, expect, it } from 'vitest';
import { encodeBinaryParts } from '../../src/imap/mime/binary-converter.js';
import { renderBodyStructure, renderEnvelope } from '../../src/imap/mime/bodystructure.js';
import { extractSection, parseSection } from '../../src/imap/mime/section.js';
import { analyseMessage } from '../../src/imap/mime/structure.js';
import { decodeTransferEncoding } from '../../src/imap/mime/transfer-decoding.js';
import { encodeValues } from '../../src/imap/response.js';
import { multipartWithPdf, PDF_BYTES, simpleMessage } from './fixtures.js';

const section = (spec: string, fields?: string[]) => parseSection(fields ? { spec, fields } : { spec });

describe('MIME metadata', () => {
  it('computes offsets that cut the message at the right bytes', async () => {
    const raw = multipartWithPdf();
    const meta = await analyseMessage(raw);
    expect(meta.size).toBe(raw.length);
    const s = meta.structure;
    expect(s.type).toBe('multipart');
    expect(s.parts?.map((p) => `${p.type}/${p.subtype}`)).toEqual(['multipart/alternative', 'application/pdf', 'message/rfc822']);
    expect(extractSection(raw, meta, section('1.1')).toString()).toBe('R=C3=A9sultat normal.\r\nDeuxi=C3=A8me ligne.');
    expect(extractSection(raw, meta, section('1.2')).toString()).toBe('<p>Resultat normal</p>');
    expect(extractSection(raw, meta, section('1.1.MIME')).toString()).toBe(
      'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
    );
    const pdf = extractSection(raw, meta, section('2'));
    expect(decodeTransferEncoding(pdf, 'base64')?.equals(PDF_BYTES)).toBe(true);
    expect(extractSection(raw, meta, section('3.HEADER')).toString()).toBe('From: eve@lab.example\r\nSubject: inner message\r\n\r\n');
    expect(extractSection(raw, meta, section('3.TEXT')).toString()).toBe('Inner body line');
    expect(extractSection(raw, meta, section('3.1')).toString()).toBe('Inner body line');
    expect(extractSection(raw, meta, section('HEADER.FIELDS', ['SUBJECT', 'X-NONE'])).toString()).toBe('Subject: Compte rendu\r\n\r\n');
    expect(extractSection(raw, meta, section('HEADER')).toString().endsWith('boundary="outer"\r\n\r\n')).toBe(true);
    expect(extractSection(raw, meta, section('TEXT')).toString().startsWith('This is a preamble.')).toBe(true);
    expect(extractSection(raw, meta, section('9')).length).toBe(0);
  });

  it('renders ENVELOPE and BODYSTRUCTURE as RFC 3501 describes', async () => {
    const raw = multipartWithPdf();
    const meta = await analyseMessage(raw);
    const envelope = encodeValues([renderEnvelope(meta.envelope)]).toString();
    expect(envelope).toBe(
      '("Mon, 02 Mar 2026 10:00:00 +0100" "Compte rendu" (("Dr Alice Martin" NIL "alice" "cabinet.example")) ' +
        '(("Dr Alice Martin" NIL "alice" "cabinet.example")) (("Dr Alice Martin" NIL "alice" "cabinet.example")) ' +
        '((NIL NIL "bob" "hopital.example")(NIL NIL "Team" NIL)(NIL NIL "carol" "lab.example")(NIL NIL "dan" "lab.example")(NIL NIL NIL NIL)) ' +
        '(("=?utf-8?q?Zo=C3=A9?=" NIL "zoe" "lab.example")) NIL NIL "<abc123@cabinet.example>")',
    );
    const body = encodeValues([renderBodyStructure(meta.structure, true)]).toString();
    const pdfSize = meta.structure.parts![1]!.bodyEnd - meta.structure.parts![1]!.bodyStart;
    expect(body).toBe(
      '((("text" "plain" ("CHARSET" "utf-8") NIL NIL "quoted-printable" 43 2 NIL NIL NIL NIL)' +
        '("text" "html" ("CHARSET" "utf-8") NIL NIL "7bit" 22 1 NIL NIL NIL NIL) "alternative" ("BOUNDARY" "inner") NIL NIL NIL)' +
        `("application" "pdf" ("NAME" "cr.pdf") NIL NIL "base64" ${pdfSize} NIL ("attachment" ("FILENAME" "cr.pdf")) NIL NIL)` +
        '("message" "rfc822" NIL NIL NIL "7bit" 64 (NIL "inner message" ((NIL NIL "eve" "lab.example")) ((NIL NIL "eve" "lab.example")) ((NIL NIL "eve" "lab.example")) NIL NIL NIL NIL NIL) ' +
        '("text" "plain" ("CHARSET" "us-ascii") NIL NIL "7bit" 15 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) ' +
        '"mixed" ("BOUNDARY" "outer") NIL NIL NIL)',
    );
  });

  it('treats a single-part message as part 1', async () => {
    const raw = simpleMessage({ subject: 'hello', body: 'one\r\ntwo' });
    const meta = await analyseMessage(raw);
    expect(extractSection(raw, meta, section('1')).toString()).toBe('one\r\ntwo\r\n');
    expect(meta.structure.lines).toBe(2);
    expect(encodeValues([renderBodyStructure(meta.structure, false)]).toString()).toBe('("text" "plain" ("CHARSET" "utf-8") NIL NIL "7bit" 10 2)');
  });
});

describe('MIME metadata of unusual messages', () => {
  const cases: Record<string, string> = {
    empty: '',
    'header only, no blank line': 'Subject: only a header',
    'LF line endings': 'Subject: lf\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n--b--\n',
    'missing closing boundary': 'Subject: open\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nbody one\r\n--b\r\n\r\nbody two',
    'multipart without boundary': 'Subject: nob\r\nContent-Type: multipart/mixed\r\n\r\nno parts here\r\n',
    'RFC 2231 filename': 'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8\'\'r%C3%A9sultat.pdf\r\n\r\nx',
  };
  for (const [name, text] of Object.entries(cases)) {
    it(`analyses a message with ${name} and renders valid structures`, async () => {
      const raw = Buffer.from(text);
      const meta = await analyseMessage(raw);
      expect(meta.size).toBe(raw.length);
      const s = meta.structure;
      expect(s.bodyStart).toBeGreaterThanOrEqual(s.headerStart);
      expect(s.bodyEnd).toBeLessThanOrEqual(raw.length);
      const rendered = encodeValues([renderBodyStructure(s, true), renderEnvelope(meta.envelope)]).toString();
      expect(rendered.startsWith('(')).toBe(true);
      // Balanced parentheses outside quoted strings.
      let depth = 0;
      for (const char of rendered.replace(/"(?:[^"\\]|\\.)*"/g, '')) depth += char === '(' ? 1 : char === ')' ? -1 : 0;
      expect(depth).toBe(0);
    });
  }

  it('keeps LF-only parts exact', async () => {
    const raw = Buffer.from(cases['LF line endings'] as string);
    const meta = await analyseMessage(raw);
    expect(extractSection(raw, meta, section('1')).toString()).toBe('hello');
    expect(meta.structure.parts?.[0]?.lines).toBe(1);
  });
});

const crlf = (text: string): Buffer => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');

describe('nested messages in a multipart/digest', () => {
  // The message of Dovecot imaptest's fetch-body-message-rfc822-mime group.
  const raw = crlf(
    'From: user@domain.org\nMime-Version: 1.0\nContent-Type: message/rfc822\n\n' +
      'From: sub@domain.org\nSubject: submsg\nContent-Type: multipart/digest; boundary="foo"\n\nprologue\n\n' +
      '--foo \n\nFrom: m1@example.com\nSubject: m1\n\nm1 body\n\n' +
      '--foo \nX-Mime: m2 header\n\nFrom: m2@example.com\nSubject: m2\n\nm2 body\n\n--foo--\n\nepilogue\n',
  );

  it('types a digest part without Content-Type as message/rfc822 (RFC 2046 §5.1.5)', async () => {
    const meta = await analyseMessage(raw);
    const digest = meta.structure.message!.root;
    expect(digest.parts?.map((p) => `${p.type}/${p.subtype}`)).toEqual(['message/rfc822', 'message/rfc822']);
    expect(digest.parts?.[0]?.params).toEqual({});
  });

  it('serves HEADER, TEXT and MIME of the parts of an embedded message', async () => {
    const meta = await analyseMessage(raw);
    const get = (spec: string) => extractSection(raw, meta, section(spec)).toString();
    expect(get('1.1.HEADER')).toBe('From: m1@example.com\r\nSubject: m1\r\n\r\n');
    expect(get('1.1.TEXT')).toBe('m1 body\r\n');
    expect(get('1.1.MIME')).toBe('\r\n');
    expect(get('1.2.MIME')).toBe('X-Mime: m2 header\r\n\r\n');
    expect(get('1.2.HEADER')).toBe('From: m2@example.com\r\nSubject: m2\r\n\r\n');
    expect(get('1.2.TEXT')).toBe('m2 body\r\n');
  });
});

describe('quoted-printable decoding (RFC 2045 §6.7)', () => {
  it('drops transport padding, joins soft line breaks and decodes =XX', () => {
    // Lines of imaptest's fetch-binary-mime-qp part.
    const encoded = crlf('hello  \nbar=\n\nfoo\t=\nbar\nfoo\t \t= \n=62\nfoo = \t\nbar\nfoo =\n=62\nfoo  \nbar=\n\nfoo_bar\n');
    expect(decodeTransferEncoding(encoded, 'quoted-printable')?.toString('latin1')).toBe(
      'hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n',
    );
  });

  it('keeps a malformed = and LF-only line endings', () => {
    expect(decodeTransferEncoding(Buffer.from('a=zz=4\nb=3D=\n'), 'quoted-printable')?.toString()).toBe('a=zz=4\nb=');
  });
});

describe('ENVELOPE addresses', () => {
  it('writes groups as start and end markers without stray members (RFC 3501 §7.4.2)', async () => {
    const meta = await analyseMessage(
      crlf('From: user@domain (Real Name)\nTo: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;\nCc: group:;, group2: (foo) ;\n\nbody\n'),
    );
    expect(encodeValues([renderEnvelope(meta.envelope)]).toString()).toBe(
      '(NIL NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ' +
        '((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ' +
        '((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL)',
    );
  });

  it('puts a source route in adl and drops comments inside an addr-spec', async () => {
    const meta = await analyseMessage(crlf('From: <@route:user@domain>\nTo: <user-to (comment)@ (comment) domain.org>\n\nbody\n'));
    expect(meta.envelope.from).toEqual([{ name: null, adl: '@route', mailbox: 'user', host: 'domain' }]);
    expect(meta.envelope.to).toEqual([{ name: null, adl: null, mailbox: 'user-to', host: 'domain.org' }]);
  });
});

describe('binary parts on APPEND', () => {
  it('stores a part holding NUL as base64 and leaves other messages untouched', async () => {
    const content = Buffer.from([0, 0xe4, 0x0a, 0x0d, 0x0a]);
    const raw = Buffer.concat([crlf('From: a@b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'), content]);
    const stored = await encodeBinaryParts(raw);
    expect(stored.includes(0)).toBe(false);
    const meta = await analyseMessage(stored);
    expect(meta.structure.encoding).toBe('base64');
    const body = stored.subarray(meta.structure.bodyStart, meta.structure.bodyEnd);
    expect(decodeTransferEncoding(body, meta.structure.encoding)?.equals(content)).toBe(true);
    const plain = simpleMessage({ subject: 'plain', body: 'text' });
    expect(await encodeBinaryParts(plain)).toBe(plain);
  });
});
