/**
 * The streamed parse (large messages, read from the spool file) against the in-memory one: same
 * extraction result on real messages, and the same robustness contract on hostile ones — a result
 * or a MedgateError, quickly, never another exception. Seeded: a failure reproduces.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import { extractPatientIdentity } from '../../src/message/identity/index.js';
import { parseForExtraction, type ExtractionInput } from '../../src/message/parse.js';
import { parseFileForExtraction } from '../../src/message/parse-stream.js';
import { tempDir } from '../helpers/gateway.js';
import { buildXdmZip, composeMessage, randomBytes, sample, seededRandom, SMALL_PDF } from './fixtures.js';

const SEED = 20261124;
let dir: string;
let n = 0;
beforeAll(() => { dir = tempDir('medgate-parse-stream-'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function onDisk(raw: Buffer): string {
  const file = path.join(dir, `m${n++}.eml`);
  fs.writeFileSync(file, raw);
  return file;
}

type Outcome = { ok: true; value: ExtractionInput } | { ok: false; code: string };

async function outcome(f: () => Promise<ExtractionInput>): Promise<Outcome> {
  const started = performance.now();
  try {
    const value = await f();
    expect(performance.now() - started).toBeLessThan(3000);
    return { ok: true, value };
  } catch (err) {
    if (!(err instanceof MedgateError)) throw err;
    return { ok: false, code: err.code };
  }
}

/** What extraction reads, comparable across both parsers (omitted contents stand for "not read"). */
function essence(i: ExtractionInput) {
  const id = extractPatientIdentity(i);
  return {
    subject: i.subject, headers: [...i.headers], textBody: i.textBody,
    attachments: i.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType })),
    patient: id.patient ?? null, conflicts: id.conflicts.map((c) => c.field),
  };
}

describe('parseFileForExtraction (streamed) agrees with parseForExtraction', () => {
  it('on a real message: same headers, text, attachments and patient; only XDM/HPRIM contents kept', async () => {
    const raw = await composeMessage({
      subject: 'PATIENT: DUPONT Jean 30/01/1959 - résultats',
      text: sample('hprim-biologie.txt').toString('utf8'),
      attachments: [
        { filename: 'IHE_XDM.ZIP', content: buildXdmZip(), contentType: 'application/zip' },
        { filename: 'RESULTAT.HPR', content: sample('hprim-biologie.latin1.txt'), contentType: 'application/octet-stream' },
        { filename: 'CR_bio.pdf', content: SMALL_PDF, contentType: 'application/pdf' },
      ],
    });
    const memory = await parseForExtraction(raw);
    const streamed = await parseFileForExtraction(onDisk(raw));
    expect(essence(streamed)).toEqual(essence(memory));
    expect(essence(streamed).patient).not.toBeNull();
    const pdf = streamed.attachments.find((a) => a.filename === 'CR_bio.pdf')!;
    expect(pdf.omitted).toEqual({ size: SMALL_PDF.length });
    expect(pdf.content.length).toBe(0);
    expect(streamed.attachments.find((a) => a.filename === 'IHE_XDM.ZIP')!.content.equals(memory.attachments.find((a) => a.filename === 'IHE_XDM.ZIP')!.content)).toBe(true);
  });

  it('on random, truncated and mutated input: the same kind of outcome, never another exception', async () => {
    const rand = seededRandom(SEED);
    const base = await composeMessage({
      subject: 'PATIENT: DUPONT Jean 30/01/1959',
      text: sample('hprim-biologie.txt').toString('utf8'),
      attachments: [{ filename: 'IHE_XDM.ZIP', content: buildXdmZip(), contentType: 'application/zip' }],
    });
    const cases: Buffer[] = [];
    for (let i = 0; i < 40; i++) cases.push(randomBytes(rand, Math.floor(rand() * 4096)));
    for (let cut = 0; cut < base.length; cut += 211) cases.push(base.subarray(0, cut));
    for (let i = 0; i < 40; i++) {
      const m = Buffer.from(base);
      for (let k = 0; k < 1 + Math.floor(rand() * 20); k++) m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
      cases.push(m);
    }
    let agreed = 0;
    for (const raw of cases) {
      const memory = await outcome(() => parseForExtraction(raw, { timeoutMs: 3000 }));
      const streamed = await outcome(() => parseFileForExtraction(onDisk(raw), { timeoutMs: 3000 }));
      expect(streamed.ok, `case ${cases.indexOf(raw)}`).toBe(memory.ok);
      if (memory.ok && streamed.ok) {
        // Identity extraction may refuse (typed) on both; when it does not, both find the same patient.
        const a = await outcome(async () => { essence(memory.value); return memory.value; });
        const b = await outcome(async () => { essence(streamed.value); return streamed.value; });
        expect(b.ok).toBe(a.ok);
        if (a.ok && b.ok) { expect(essence(streamed.value).patient).toEqual(essence(memory.value).patient); agreed++; }
      } else if (!memory.ok && !streamed.ok) {
        expect(streamed.code).toBe(memory.code);
      }
    }
    expect(agreed).toBeGreaterThan(0);
  });

  it('refuses an oversized file and a header block over the limit with the same codes', async () => {
    const raw = Buffer.from(`Subject: x\r\nX-Long: ${'a'.repeat(70_000)}\r\n\r\nbody`);
    expect(await outcome(() => parseFileForExtraction(onDisk(raw)))).toEqual({ ok: false, code: 'MESSAGE_HEADER_TOO_LONG' });
    expect(await outcome(() => parseFileForExtraction(onDisk(Buffer.alloc(2048, 0x61)), { maxRawBytes: 1024 }))).toEqual({ ok: false, code: 'MESSAGE_TOO_LARGE' });
  });
});
