/**
 * Fuzz: the forwarded-message author reader (issue 30; src/message/forwarded.ts and
 * src/message/forwarded-author.ts). A doctor forwards "as attachment" (message/rfc822) a message a
 * lab signed with S/MIME; its signer becomes the verified author. Whatever the forwarding message
 * holds — flipped, cut or spliced bytes, duplicated header fields, huge fields, forwarded messages
 * inside forwarded messages, deep multipart nesting, broken transfer encodings — the extraction
 * path returns or throws a MedgateError, quickly; and a signer is named as verified only for the
 * signed bytes themselves: an altered signed text never gets a verified author.
 *
 * Real parts: the test CA issues the lab's certificate, `openssl cms -sign` signs (detached and
 * opaque), nodemailer's composer forwards. Seeded: `MEDGATE_FUZZ_SEED=<n>` replays a failure.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import { classifyMessage } from '../../src/message/classify/index.js';
import { describeForwardedParts, type ForwardedDocument, type TrustFiles } from '../../src/message/forwarded-author.js';
import { FORWARDED_TYPE, forwardedView } from '../../src/message/forwarded.js';
import { extractPatientIdentity } from '../../src/message/identity/index.js';
import { parseSubmission } from '../../src/message/parse-submission.js';
import { createTestCa } from '../../src/pki/index.js';
import { tempDir } from '../helpers/gateway.js';
import { badEncoding, between, deepNesting, duplicateHeader, flipBytes, fuzzCases, hugeField, pick, splice, swapSlices, truncate } from '../helpers/fuzz.js';

const LAB = 'labo.bio@bio-antony.medgate.test';
const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PER_CASE_MS = 3_000;

let dir: string;
let trust: TrustFiles;
let detached: Buffer;
let opaque: Buffer;
let labFiles: { cert: string; key: string };

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');

function signedByLab(body: string, nodetach = false): Buffer {
  const inner = crlf([`From: ${LAB}`, `To: ${PAUL}`, 'Subject: Résultats biologie', 'Date: Tue, 02 Jun 2026 10:00:00 +0200',
    'Content-Type: text/plain; charset=utf-8', '', body, '']);
  return execFileSync('openssl', ['cms', '-sign', ...(nodetach ? ['-nodetach'] : []), '-signer', labFiles.cert, '-inkey', labFiles.key, '-md', 'sha256',
    '-from', LAB, '-to', PAUL, '-subject', 'Résultats biologie'], { input: inner, stdio: ['pipe', 'pipe', 'pipe'] });
}

async function forwarding(message: Buffer, encoding?: string): Promise<Buffer> {
  return new MailComposer({
    from: PAUL, to: `rmp@cabinet-antony.medgate.test`, subject: 'PATIENT: DUPONT Jean 30/01/1959 résultats transmis', text: 'Pour information.',
    attachments: [{ filename: 'resultats.eml', content: message, contentType: 'message/rfc822', ...(encoding ? { contentTransferEncoding: encoding } : {}) }],
  }).compile().build();
}

beforeAll(async () => {
  dir = tempDir('medgate-fwd-fuzz-');
  const ca = await createTestCa({ dir: path.join(dir, 'ca') });
  const lab = await ca.issue({ profile: 'user', commonName: 'Laboratoire Antony', emails: [LAB] });
  labFiles = { cert: path.join(dir, 'lab.crt.pem'), key: path.join(dir, 'lab.key.pem') };
  fs.writeFileSync(labFiles.cert, lab.certPem);
  fs.writeFileSync(labFiles.key, lab.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
  fs.writeFileSync(path.join(dir, 'crl.pem'), await ca.crlPem());
  trust = { anchors: [path.join(dir, 'ca.pem')], crls: [path.join(dir, 'crl.pem')] };
  const body = 'Glycémie à jeun : 0,95 g/L (N : 0,70 - 1,10)\r\nCholestérol total : 1,85 g/L';
  detached = signedByLab(body);
  opaque = signedByLab(body, true);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Outcome = { ok: true; documents: ForwardedDocument[] } | { ok: false; code: string };

/** The submission's extraction path (src/message/seal-submission.ts extractionOf + describeSubmission), timed. */
async function extract(raw: Buffer): Promise<Outcome> {
  const started = performance.now();
  let outcome: Outcome;
  try {
    const view = await forwardedView(raw);
    const input = await parseSubmission(view ? view.raw : raw, { timeoutMs: PER_CASE_MS });
    const forwarded = view ? await describeForwardedParts(input, view.forwarded, trust) : undefined;
    const extraction = extractPatientIdentity(input);
    classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, ...(forwarded ? { forwarded } : {}) });
    if (view) expect(input.attachments.filter((a) => a.contentType === FORWARDED_TYPE).length).toBeLessThanOrEqual(view.forwarded.length);
    outcome = { ok: true, documents: [...(forwarded?.values() ?? [])] };
  } catch (err) {
    if (!(err instanceof MedgateError)) throw new Error(`not a typed error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
    outcome = { ok: false, code: err.code };
  }
  expect(performance.now() - started).toBeLessThan(PER_CASE_MS);
  return outcome;
}

/** The documents described, by part label. */
async function described(raw: Buffer): Promise<Map<string, ForwardedDocument>> {
  const view = await forwardedView(raw);
  if (!view) return new Map();
  return describeForwardedParts(await parseSubmission(view.raw), view.forwarded, trust);
}

const verifiedSigners = (o: Outcome) => (o.ok ? o.documents.filter((d) => d.author.source === 'smime').map((d) => d.author.id) : []);

describe('forwarded-message author reader (fuzz)', () => {
  it('the real samples: detached and opaque signatures name the lab as verified author, in every transfer encoding', async () => {
    for (const message of [detached, opaque]) {
      for (const encoding of [undefined, 'base64', 'quoted-printable', '7bit']) {
        const o = await extract(await forwarding(message, encoding));
        expect(verifiedSigners(o), `encoding ${encoding ?? 'default'}`).toEqual([LAB]);
      }
    }
  });

  it('the forwarding message flipped, cut, spliced or re-ordered anywhere', async () => {
    const samples = [await forwarding(detached), await forwarding(opaque, 'base64'), await forwarding(detached, 'quoted-printable')];
    let verified = 0;
    await fuzzCases(0xf0a4d, 60, async (random) => {
      const raw = pick(random, samples);
      const op = pick(random, [flipBytes, truncate, splice, swapSlices] as const);
      const o = await extract(op(random, raw));
      for (const signer of verifiedSigners(o)) {
        expect(signer).toBe(LAB);
        verified++;
      }
    });
    // Damage outside the signed part leaves the signature valid: some cases still verify.
    expect(verified).toBeGreaterThan(0);
  });

  it('the signed text altered: never a verified author', async () => {
    const text = detached.toString('latin1');
    const from = text.indexOf('Glyc');
    const to = text.indexOf('g/L', text.indexOf('Cholest'));
    await fuzzCases(0x5191, 25, async (random) => {
      const m = Buffer.from(detached);
      const places = new Set(Array.from({ length: between(random, 1, 3) }, () => between(random, from, to)));
      for (const at of places) m[at] = m[at] === 0x31 ? 0x32 : 0x31; // a digit of a result changed, or a letter made one
      expect(m.equals(detached)).toBe(false);
      const o = await extract(await forwarding(m, pick(random, [undefined, 'base64', 'quoted-printable'])));
      expect(o.ok).toBe(true);
      expect(verifiedSigners(o)).toEqual([]);
      if (o.ok) expect(o.documents[0]?.author).toMatchObject({ source: 'forwarded', name: LAB });
    });
  });

  it('duplicated header fields, huge fields and broken encodings in the forwarded message', async () => {
    await fuzzCases(0xd0b1e, 24, async (random) => {
      let inner = pick(random, [detached, opaque]);
      const op = pick(random, ['dup', 'huge', 'encoding'] as const);
      if (op === 'dup') inner = duplicateHeader(random, inner, 200);
      else if (op === 'huge') inner = hugeField(random, inner, pick(random, ['From', 'Subject', 'Content-Type', 'X-Long']), between(random, 32 * 1024, 400 * 1024));
      else inner = Buffer.concat([Buffer.from(`From: ${badEncoding(random)} <${badEncoding(random)}@x>\r\nSubject: ${badEncoding(random)}\r\nContent-Transfer-Encoding: ${pick(random, ['base64', 'quoted-printable', 'x-uue', '8bit'])}\r\n`, 'latin1'), inner]);
      const o = await extract(await forwarding(inner, pick(random, [undefined, 'base64', '8bit'])));
      // A header field added above the signed entity does not alter what was signed; the signer stays the lab or none.
      for (const signer of verifiedSigners(o)) expect(signer).toBe(LAB);
    });
  });

  it('forwarded messages inside forwarded messages, many of them, and deep multipart nesting', async () => {
    // 40 levels of message/rfc822 in one another.
    let nested = detached;
    for (let i = 0; i < 40; i++) nested = Buffer.concat([Buffer.from(`From: relais${i}@cabinet-antony.medgate.test\r\nSubject: Fwd ${i}\r\nContent-Type: message/rfc822\r\n\r\n`), nested]);
    await extract(await forwarding(nested));
    // 300 multipart levels around a forwarded message.
    const deep = deepNesting(300, Buffer.concat([Buffer.from('Content-Type: message/rfc822\r\n\r\n'), detached]));
    await extract(Buffer.concat([Buffer.from(`From: ${PAUL}\r\nSubject: profond\r\n`), deep]));
    // 40 forwarded messages in one: at most 16 are read as documents, the others stay ordinary parts.
    const many = await new MailComposer({
      from: PAUL, to: 'rmp@cabinet-antony.medgate.test', subject: 'lot', text: 'x',
      attachments: Array.from({ length: 40 }, (_, i) => ({ filename: `m${i}.eml`, content: opaque, contentType: 'message/rfc822' })),
    }).compile().build();
    const o = await extract(many);
    expect(o.ok && o.documents.length).toBe(16);
    expect(verifiedSigners(o)).toEqual(Array(16).fill(LAB));
  });

  it('a part that declares the view\'s own content type is not credited with a forwarded message\'s signer', async () => {
    // Found while writing this suite: the documents were paired with the forwarded messages by order
    // of that content type, so a part the sender labelled so, placed first, took the lab's signature.
    const raw = await new MailComposer({
      from: PAUL, to: 'rmp@cabinet-antony.medgate.test', subject: 'PATIENT: DUPONT Jean 30/01/1959 résultats', text: 'Pour information.',
      attachments: [
        { filename: 'CR_forge.pdf', content: Buffer.from('%PDF-1.4 written by the sender'), contentType: FORWARDED_TYPE },
        { filename: 'resultats.eml', content: detached, contentType: 'message/rfc822' },
      ],
    }).compile().build();
    const docs = await described(raw);
    expect([...docs.keys()]).toEqual(['resultats.eml']);
    expect(docs.get('resultats.eml')?.author).toEqual({ source: 'smime', id: LAB });
  });

  it('a message the MIME splitter refuses (a 3 MB header, thousands of nested parts): the parse\'s typed error, not the splitter\'s', async () => {
    // Found by this suite: forwardedView let mailsplit's EMAXLEN through, which the SMTP layer answered "451 try again later".
    const hugeHeader = Buffer.concat([Buffer.from('Subject: rfc822 '), Buffer.alloc(3 * 1024 * 1024, 0x41), Buffer.from('\r\n\r\nbody')]);
    expect(await extract(hugeHeader)).toMatchObject({ ok: false, code: 'MESSAGE_HEADER_TOO_LONG' });
    const deep = deepNesting(3000, Buffer.concat([Buffer.from('Content-Type: message/rfc822\r\n\r\n'), detached]));
    expect(await extract(Buffer.concat([Buffer.from(`From: ${PAUL}\r\nSubject: profond\r\n`), deep]))).toMatchObject({ ok: false, code: 'MESSAGE_MALFORMED' });
  });

  it('a forwarded message whose From is a huge address list: described at once, naming no From', async () => {
    // Found by this suite: 800 KB of "a@b," held addressparser (and the seal worker) for minutes.
    const list = Array.from({ length: 200 }, () => `${'a@b.test,'.repeat(400)}`).join('\r\n ');
    const inner = Buffer.concat([Buffer.from(`From: ${list}\r\nSubject: liste\r\n\r\ncorps\r\n`)]);
    const started = performance.now();
    const o = await extract(await forwarding(inner));
    expect(performance.now() - started).toBeLessThan(PER_CASE_MS);
    expect(o.ok && o.documents[0]?.author).toEqual({ source: 'forwarded' });
  });
});

