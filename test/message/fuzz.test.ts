/**
 * Robustness: hostile or broken input must give a result or a MedgateError, quickly — never an
 * unexpected exception, never a hang. Seeded PRNG: a failure reproduces with the same seed.
 */
import { describe, expect, it } from 'vitest';
import { zipSync, strToU8 } from 'fflate';
import { MedgateError } from '../../src/errors.js';
import { classifyMessage } from '../../src/message/classify/index.js';
import { extractPatientIdentity, isValidMatricule, parseHprim, XDM_ARCHIVE_UNSAFE } from '../../src/message/identity/index.js';
import { MESSAGE_HEADER_TOO_LONG, parseForExtraction } from '../../src/message/parse.js';
import { parseSubmission } from '../../src/message/parse-submission.js';
import { buildXdmZip, composeMessage, input, METADATA_XML, randomBytes, sample, seededRandom, SMALL_PDF } from './fixtures.js';
import type { ExtractionInput } from '../../src/message/parse.js';

const SEED = 20261123;
const PER_CASE_MS = 3000;

type Outcome = { ok: true } | { ok: false; code: string };

/** The whole extraction path; asserts the outcome contract and the time bound. */
async function pipeline(raw: Buffer): Promise<Outcome> {
  // The seal path's scan (mime-scan.ts) over the same bytes, under the same contract.
  await bounded(async () => analyse(await parseSubmission(raw, { timeoutMs: PER_CASE_MS })));
  return bounded(async () => analyse(await parseForExtraction(raw, { timeoutMs: PER_CASE_MS })));
}

function analyse(parsed: ExtractionInput): void {
  const extraction = extractPatientIdentity(parsed);
  for (const p of extraction.sources) checkIdentity(p);
  classifyMessage({ input: parsed, hprim: extraction.hprim, ...(extraction.xdm ? { xdm: extraction.xdm } : {}) });
}

async function bounded(f: () => unknown): Promise<Outcome> {
  const started = performance.now();
  let outcome: Outcome;
  try {
    await f();
    outcome = { ok: true };
  } catch (err) {
    if (!(err instanceof MedgateError)) throw err; // the test fails with the real exception
    outcome = { ok: false, code: err.code };
  }
  expect(performance.now() - started).toBeLessThan(PER_CASE_MS);
  return outcome;
}

/** Whatever the input, an identity that comes out is well-formed. */
function checkIdentity(p: { familyName: string; givenName: string; birthDate: string; nir?: string }): void {
  expect(p.familyName.trim()).not.toBe('');
  expect(p.givenName.trim()).not.toBe('');
  expect(p.birthDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  expect(new Date(`${p.birthDate}T00:00:00Z`).toISOString().slice(0, 10)).toBe(p.birthDate);
  if (p.nir !== undefined) expect(isValidMatricule(p.nir)).toBe(true);
}

async function realMessage(): Promise<Buffer> {
  return composeMessage({
    subject: 'PATIENT: DUPONT-MARTIN Jean-Louis 30/01/1959 - résultats',
    text: sample('hprim-biologie.txt').toString('utf8'),
    headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' },
    attachments: [
      { filename: 'IHE_XDM.ZIP', content: buildXdmZip(), contentType: 'application/zip' },
      { filename: 'RESULTAT.HPR', content: sample('hprim-biologie.latin1.txt'), contentType: 'application/octet-stream' },
      { filename: 'CR_bio.pdf', content: SMALL_PDF, contentType: 'application/pdf' },
    ],
  });
}

describe('fuzz', () => {
  it('random bytes as a whole message', async () => {
    const rand = seededRandom(SEED);
    for (let i = 0; i < 150; i++) await pipeline(randomBytes(rand, Math.floor(rand() * 4096)));
  });

  it('random bytes after a valid header, as an XDM archive and as HPRIM text', async () => {
    const rand = seededRandom(SEED + 1);
    for (let i = 0; i < 150; i++) {
      const junk = randomBytes(rand, Math.floor(rand() * 4096));
      await pipeline(Buffer.concat([Buffer.from('Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n'), junk]));
      const outcome = await bounded(() =>
        analyse(input({ textBody: junk.toString('latin1'), attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: junk }] })),
      );
      expect(outcome.ok).toBe(false); // a declared XDM archive that is junk refuses the message
    }
  });

  it('a real message truncated at every 37th byte', async () => {
    const raw = await realMessage();
    const full = await pipeline(raw);
    expect(full).toEqual({ ok: true });
    let ok = 0;
    for (let cut = 0; cut < raw.length; cut += 37) if ((await pipeline(raw.subarray(0, cut))).ok) ok++;
    expect(ok).toBeGreaterThan(0);
  });

  it('a real message with random byte mutations', async () => {
    const raw = await realMessage();
    const rand = seededRandom(SEED + 2);
    for (let i = 0; i < 120; i++) {
      const m = Buffer.from(raw);
      const flips = 1 + Math.floor(rand() * 20);
      for (let k = 0; k < flips; k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      await pipeline(m);
    }
  });

  it('HPRIM with missing, shuffled and duplicated lines', async () => {
    const lines = sample('hprim-biologie.txt').toString('utf8').split('\n');
    const rand = seededRandom(SEED + 3);
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const l = [...lines];
      const op = i % 3;
      if (op === 0) l.splice(Math.floor(rand() * 14), 1 + Math.floor(rand() * 3));
      else if (op === 1) {
        for (let k = 12; k > 0; k--) {
          const j = Math.floor(rand() * (k + 1));
          [l[k], l[j]] = [l[j] ?? '', l[k] ?? ''];
        }
      } else l.splice(Math.floor(rand() * 14), 0, l[Math.floor(rand() * l.length)] ?? '');
      const text = l.join(rand() < 0.5 ? '\n' : '\r\n');
      await bounded(() => {
        const doc = parseHprim(text, 'body');
        for (const s of doc?.sections ?? []) {
          checkIdentity(s.patient);
          accepted++;
        }
        analyse(input({ textBody: text }));
      });
    }
    // Header lines removed or shuffled must mostly be refused, not misread.
    expect(accepted).toBeLessThan(400);
  });

  it('path traversal, absolute and backslash names in an XDM archive are refused', async () => {
    for (const bad of ['../../etc/passwd', '/abs', 'a\\b', 'IHE_XDM/SUBSET01/../../x', 'nul\0name']) {
      const zip = Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/METADATA.XML': strToU8(METADATA_XML()), [bad]: strToU8('pwned') }));
      for (const filename of ['IHE_XDM.ZIP', 'envoi.zip']) {
        const raw = await composeMessage({ attachments: [{ filename, content: zip, contentType: 'application/zip' }] });
        const outcome = await pipeline(raw);
        if (filename === 'IHE_XDM.ZIP') expect(outcome).toEqual({ ok: false, code: XDM_ARCHIVE_UNSAFE });
        else expect(outcome).toEqual({ ok: true }); // not declared XDM and unreadable: simply not XDM
      }
    }
  });

  it('a zip bomb inside a MIME message is stopped quickly', async () => {
    const bomb = Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/METADATA.XML': new Uint8Array(16 * 1024 * 1024) }, { level: 1 }));
    for (let i = 0; i + 4 <= bomb.length; i++) {
      if (bomb.readUInt32LE(i) === 0x04034b50) bomb.writeUInt32LE(1000, i + 22);
      if (bomb.readUInt32LE(i) === 0x02014b50) bomb.writeUInt32LE(1000, i + 24);
    }
    const raw = await composeMessage({ attachments: [{ filename: 'IHE_XDM.ZIP', content: bomb, contentType: 'application/zip' }] });
    expect(await pipeline(raw)).toEqual({ ok: false, code: XDM_ARCHIVE_UNSAFE });
  });

  it('a 10 MB single-line header', async () => {
    const raw = Buffer.concat([Buffer.from('Subject: '), Buffer.alloc(10 * 1024 * 1024, 0x41), Buffer.from('\r\n\r\nbody\r\n')]);
    expect(await pipeline(raw)).toEqual({ ok: false, code: MESSAGE_HEADER_TOO_LONG });
    // Same without a line break at all.
    expect(await pipeline(Buffer.alloc(10 * 1024 * 1024, 0x41))).toEqual({ ok: false, code: MESSAGE_HEADER_TOO_LONG });
  });
});
