/**
 * Fuzz: what a read receipt is made of, from what a sender wrote (src/filing/receipts/*). No receipt
 * that comes back to medgate is parsed by it (an MDN or an ANS receipt arriving for a local user is
 * ordinary mail, sealed as any other); the receipt's input is the sender's own: the
 * `Disposition-Notification-To` field of the submission (receiptAddress, seal-submission.ts), and
 * the routing header's Message-ID, patient traits and document type, all strings the sender chose,
 * written into the RFC 8098 receipt (build-mdn.ts) and the ANS-format one (ans-mdn.ts).
 *
 * Whatever those strings hold (CR/LF, NUL, encoded words, 10 000 characters, prototype names), the
 * receipt is built, parses as one multipart/report, and its machine-readable part holds exactly the
 * fields the format lists — nothing the sender wrote becomes a field of its own. Seeded:
 * `MEDGATE_FUZZ_SEED=<n>` replays a failure.
 */
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import { ansSubject, buildAnsMdn } from '../../src/filing/receipts/ans-mdn.js';
import { buildMdn } from '../../src/filing/receipts/build-mdn.js';
import { receiptAddress } from '../../src/message/seal-submission.js';
import type { DocumentType } from '../../src/message/classify/index.js';
import { badEncoding, between, fuzzCases, pick } from '../helpers/fuzz.js';

const RMP = 'rmp@cabinet-antony.medgate.test';
const LAB = 'anne.biologiste@labo-biotest.example';

/** A hostile string: injected fields, control bytes, encoded words, long runs, prototype names. */
function hostile(random: () => number): string {
  const pieces = [
    () => '\r\nBcc: victim@elsewhere.example', () => '\nX-Injected: 1', () => '\r\n\r\n--boundary\r\nContent-Type: text/html\r\n\r\n<b>x</b>',
    () => badEncoding(random), () => 'x'.repeat(between(random, 900, 10_000)), () => '<a@b>', () => 'DUPONT', () => 'Jean-Louis',
    () => pick(random, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']), () => '=?utf-8?Q?=0D=0ABcc:_x@y?=', () => '\0',
    () => ' '.repeat(between(random, 1, 200)), () => 'é🩺\u2028\u2029\u0085',
  ];
  let s = '';
  for (let k = between(random, 1, 4); k > 0; k--) s += pick(random, pieces)();
  return s;
}

/** Field names at the start of a line (continuation lines start with white space). */
const fieldNames = (text: string): string[] => text.split(/\r\n/).map((l) => /^([A-Za-z-]+):/.exec(l)?.[1]?.toLowerCase()).filter((n): n is string => !!n);

const DISPOSITION = { processed: { disposition: 'processed' as const, error: null }, error: { disposition: 'processed/error' as const, error: 'the item names no patient' }, denied: { disposition: 'deleted/error' as const, error: 'rights: a nurse may not author a discharge summary' } };

/** The receipt parses as one report; its machine-readable fields are exactly `expected`, its header has no added field. */
async function checkReceipt(mdn: Buffer, expected: string[][]): Promise<void> {
  const text = mdn.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  for (const line of text.split('\r\n')) expect(line.length, 'a line of at most 998 octets (RFC 5322 §2.1.1)').toBeLessThanOrEqual(998);
  expect(text.slice(0, text.indexOf('\r\n\r\n')), 'no control character in the header').not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/);
  const names = fieldNames(head).sort();
  // In-Reply-To and References only for a well-formed original Message-ID, and then that one id.
  expect(names.filter((n) => n !== 'in-reply-to' && n !== 'references')).toEqual(['auto-submitted', 'content-type', 'date', 'from', 'message-id', 'mime-version', 'subject', 'to']);
  const parsed = await simpleParser(mdn);
  for (const n of ['in-reply-to', 'references']) if (names.includes(n)) expect(String(parsed.headers.get(n))).toMatch(/^<[^\s<>]+>$/);
  expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/report', params: { 'report-type': 'disposition-notification' } });
  expect(parsed.bcc).toBeUndefined();
  expect(parsed.cc).toBeUndefined();
  expect(parsed.subject ?? '').not.toMatch(/undefined|\[object|function/);
  const machine = parsed.attachments.filter((a) => a.contentType !== 'text/plain');
  expect(machine.map((a) => a.contentType)).toEqual(expected.map(([type]) => type));
  expected.forEach(([, ...names], i) => expect(fieldNames(machine[i]!.content.toString('latin1'))).toEqual(names));
}

describe('read receipts from what the sender wrote (fuzz)', () => {
  it('Disposition-Notification-To: one address or none, never a line break, a space or 320+ characters', async () => {
    const samples = [`Dr Paul <${LAB}>`, LAB, `"a, b" <${LAB}>, other@x.test`, `=?utf-8?B?RHIgUGF1bA==?= <${LAB}>`, `group: ${LAB};`];
    let addresses = 0;
    await fuzzCases(0xd17, 200, (random) => {
      const value = pick(random, [
        () => hostile(random), () => pick(random, samples) + hostile(random), () => hostile(random) + pick(random, samples),
        () => `${'<'.repeat(between(random, 1, 2000))}${LAB}`, () => `${LAB},`.repeat(between(random, 1, 500)), () => `"${hostile(random)}" <${hostile(random)}@x>`,
      ])();
      let got: string | undefined;
      try {
        got = receiptAddress(value);
      } catch (err) {
        if (!(err instanceof MedgateError)) throw err;
        return;
      }
      if (got === undefined) return;
      addresses++;
      expect(got).toBe(got.toLowerCase());
      expect(got.length).toBeLessThanOrEqual(320);
      expect(got).toMatch(/^[^@]+@[^@]+$/);
      expect(got).not.toMatch(/[\s\0<>,;]/);
    });
    expect(addresses).toBeGreaterThan(25);
  });

  it('a Disposition-Notification-To of thousands of addresses: none, at once', () => {
    const started = performance.now();
    expect(receiptAddress(`${LAB},`.repeat(20_000))).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('the RFC 8098 receipt: a hostile original Message-ID and error text stay values', async () => {
    await fuzzCases(0x8098, 40, async (random) => {
      const row = pick(random, Object.values(DISPOSITION));
      const error = random() < 0.5 ? row.error : hostile(random);
      const mdn = await buildMdn({ reportingHost: 'mx.cabinet-antony.medgate.test', from: 'postmaster@cabinet-antony.medgate.test', to: LAB, recordServer: RMP, originalMessageId: hostile(random), disposition: row.disposition, error: row.error ? error : null });
      await checkReceipt(mdn, [['message/disposition-notification', 'reporting-ua', 'final-recipient', 'original-message-id', 'disposition', ...(row.error ? ['error'] : [])]]);
    });
  });

  it('the ANS receipt: hostile Message-ID, sender, patient traits and document type stay values', async () => {
    await fuzzCases(0xa45, 40, async (random) => {
      const row = pick(random, Object.values(DISPOSITION));
      const mdn = await buildAnsMdn({
        reportingHost: 'mx.cabinet-antony.medgate.test', recordServer: RMP, to: LAB, originalMessageId: hostile(random),
        originalSender: random() < 0.5 ? LAB : hostile(random), messageId: '<mdn-1@cabinet-antony.medgate.test>', row,
        ...(random() < 0.7 ? { patient: { familyName: hostile(random), givenName: hostile(random), birthDate: '1959-01-30' } } : {}),
        ...(random() < 0.7 ? { documentType: (random() < 0.5 ? hostile(random) : pick(random, ['__proto__', 'constructor', 'toString', 'lab-report'])) as DocumentType } : {}),
      });
      await checkReceipt(mdn, [
        ['message/disposition-notification', 'reporting-ua', 'original-recipient', 'final-recipient', 'original-message-id', 'disposition', ...(row.error ? ['error'] : [])],
        ['text/rfc822-headers', 'message-id', 'from', 'to'],
      ]);
    });
  });

  it('a document type named like an object property is an unknown type in the ANS subject', () => {
    for (const t of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(ansSubject({ documentType: t as DocumentType, patient: null }, undefined)).toBe('XDM/1.0/DDM+Document');
    }
  });
});
