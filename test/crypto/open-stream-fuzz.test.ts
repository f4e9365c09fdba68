/**
 * Fuzz: the streamed open of a sealed message (src/crypto/seal/open-stream.ts and the IMAP side,
 * src/mailbox/opened-stream.ts). A stored message whose bytes are flipped, cut, spliced or
 * re-ordered anywhere — outer header, armor, OpenPGP packets, the closing boundary — must end in a
 * typed error (a MedgateError with a stable code) or a clean stream abort (docs/secure-message-format.md
 * §11.1): never an unhandled rejection, a hang or a crash, never the complete original presented
 * from altered bytes, the file always released, and memory that does not grow with the damage.
 *
 * Seeded: a failure prints its seed; `MEDGATE_FUZZ_SEED=<n>` replays it.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import { armorMessage, dearmorMessage } from '../../src/crypto/seal/radix64.js';
import { openStream, STREAM_HEAD_BYTES, type StreamOpening } from '../../src/crypto/seal/open-stream.js';
import { seal } from '../../src/crypto/seal/index.js';
import { servedStream, streamFacts } from '../../src/mailbox/opened-stream.js';
import { flipBytes, fuzzCases, pick, splice, swapSlices, truncate } from '../helpers/fuzz.js';
import { directory, largeMessage, makeUser, routingFor, type TestUser } from './fixtures.js';

/** A whole case (open, read to the end or the error) must finish in this: a hang fails here, with its seed. */
const CASE_MS = 10_000;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let sender: TestUser, alice: TestUser;
let raw: Buffer;
let sealed: Buffer;
/** Where the armored payload starts and ends in `sealed`. */
let armorBegin: number, armorEnd: number;

beforeAll(async () => {
  [sender, alice] = await Promise.all([makeUser('paul.demo@cabinet-antony.medgate.test'), makeUser('claire.martin@cardio-sceaux.medgate.test')]);
  raw = largeMessage(96 * 1024);
  sealed = (await seal({
    raw, routing: routingFor(sender.email, [alice.email], '<fuzz@cabinet-antony.medgate.test>'), signingKey: sender.privateKey,
    recipientKeys: [alice.publicKey, sender.publicKey], filingKeys: [], envelope: { from: sender.email, to: [alice.email] },
  })).sealed;
  armorBegin = sealed.indexOf('-----BEGIN PGP MESSAGE-----');
  armorEnd = sealed.indexOf('-----END PGP MESSAGE-----') + '-----END PGP MESSAGE-----'.length;
});

type Result =
  | { kind: 'not-opened'; code: string }
  | { kind: 'complete'; given: Buffer }
  | { kind: 'refused'; code: string; given: Buffer };

/** A source that records whether it was released (destroyed or read to its end). */
function sourceOf(bytes: Buffer, chunk: number): { stream: () => Readable; released: () => boolean } {
  let made: Readable | undefined;
  return {
    stream: () => (made = Readable.from((function* () { for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk); })())),
    released: () => made === undefined || made.destroyed || made.readableEnded,
  };
}

function codeOf(err: unknown, where: string): string {
  if (!(err instanceof MedgateError)) throw new Error(`${where}: not a typed error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
  expect(err.code, where).toMatch(/^[A-Z][A-Z0-9_]+$/);
  return err.code;
}

async function withinCase<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no outcome within ${CASE_MS} ms (a hang)`)), CASE_MS); });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens `bytes` as IMAP does (the first 64 KB, then a fresh stream of the whole) and reads it all. */
async function streamOpen(bytes: Buffer, chunk: number): Promise<Result> {
  const source = sourceOf(bytes, chunk);
  let opening: StreamOpening;
  try {
    opening = await openStream({ head: bytes.subarray(0, STREAM_HEAD_BYTES), sealed: source.stream, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
  } catch (err) {
    expect(source.released(), 'the sealed file is released when the opening fails').toBe(true);
    return { kind: 'not-opened', code: codeOf(err, 'openStream') };
  }
  const pieces: Buffer[] = [];
  try {
    for await (const p of opening.content) pieces.push(p);
  } catch (err) {
    const code = codeOf(err, 'content');
    expect(opening.verification, 'no verdict for a stream that failed').toBeUndefined();
    expect(source.released(), 'the sealed file is released when the stream fails').toBe(true);
    return { kind: 'refused', code, given: Buffer.concat(pieces) };
  }
  expect(opening.verification?.valid).toBe(true);
  return { kind: 'complete', given: Buffer.concat(pieces) };
}

/** The rule of §11.1: altered bytes never end as the complete original; an unaltered-content outcome is the original exactly. */
function checkOutcome(r: Result): void {
  if (r.kind === 'complete') expect(sha256(r.given), 'a stream that ends without error gives the original exactly').toBe(sha256(raw));
  if (r.kind === 'refused') expect(r.given.equals(raw), 'a failed stream never gave the whole original').toBe(false);
}

/** The payload's bytes changed by `edit` and re-armored with a valid CRC-24: only OpenPGP itself can tell. */
function rearmored(edit: (binary: Buffer) => Buffer): Buffer {
  const binary = Buffer.from(dearmorMessage(sealed.toString('latin1', armorBegin, armorEnd), 'message'));
  return Buffer.concat([sealed.subarray(0, armorBegin), Buffer.from(armorMessage(edit(binary)), 'latin1'), sealed.subarray(armorEnd)]);
}

describe('streamed open of a damaged sealed message (fuzz)', () => {
  it('the unaltered message opens whole, at any chunking', async () => {
    for (const chunk of [997, 65_536]) {
      const r = await withinCase(streamOpen(sealed, chunk));
      expect(r.kind).toBe('complete');
      checkOutcome(r);
    }
  });

  it('bytes flipped, cut, spliced or re-ordered anywhere in the stored message', async () => {
    const seen = new Map<string, number>();
    await fuzzCases(0x5ea1ed, 30, async (random) => {
      // Where: the outer header and preamble, the armor, the end (END line, closing boundary), anywhere.
      const [from, to] = pick(random, [[0, armorBegin], [armorBegin, armorEnd], [armorEnd - 200, sealed.length], [0, sealed.length]] as const);
      const op = pick(random, [flipBytes, truncate, splice, swapSlices] as const);
      const bytes = op(random, sealed, from, to);
      const r = await withinCase(streamOpen(bytes, pick(random, [1500, 16_384, 65_536])));
      checkOutcome(r);
      const key = r.kind === 'complete' ? 'complete' : r.code;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    });
    // The damage is caught by different checks, not by one catch-all.
    expect(seen.size, [...seen.keys()].join(', ')).toBeGreaterThanOrEqual(3);
  });

  it('OpenPGP packets flipped, cut, spliced or re-ordered under a valid armor checksum', async () => {
    const codes = new Set<string>();
    await fuzzCases(0x0b9a11, 25, async (random) => {
      const r = await withinCase(streamOpen(rearmored((b) => {
        const op = pick(random, ['flip-head', 'flip', 'truncate', 'splice', 'swap'] as const);
        // The first bytes are the PKESK and SEIPD packet headers: their lengths and tags.
        if (op === 'flip-head') return flipBytes(random, b, 3, 0, Math.min(b.length, 400));
        if (op === 'flip') return flipBytes(random, b, 4);
        if (op === 'truncate') return truncate(random, b);
        if (op === 'splice') return splice(random, b);
        return swapSlices(random, b);
      }), pick(random, [4096, 65_536])));
      // An edit the recipient's decryption never reads (the sender's own PKESK packet) may still open: then exactly the original.
      checkOutcome(r);
      codes.add(r.kind === 'complete' ? 'complete' : r.code);
    });
    expect(codes.has('CIPHERTEXT_TAMPERED') || codes.has('MALFORMED_STRUCTURE')).toBe(true);
  });

  it('a sealed file that fails to read mid-way: a typed error, the stream released', async () => {
    let made: Readable | undefined;
    const failing = () => (made = Readable.from((async function* () {
      yield sealed.subarray(0, 100_000);
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    })()));
    const opening = await openStream({ head: sealed.subarray(0, STREAM_HEAD_BYTES), sealed: failing, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
    const r = await withinCase((async () => {
      try {
        for await (const _ of opening.content) { /* drain */ }
        return 'complete';
      } catch (err) {
        return codeOf(err, 'content');
      }
    })());
    expect(r).not.toBe('complete');
    expect(made?.destroyed).toBe(true);
  });

  it('a consumer that goes away after the first piece: the stream is released, nothing left pending', async () => {
    const source = sourceOf(sealed, 4096);
    const opening = await openStream({ head: sealed.subarray(0, STREAM_HEAD_BYTES), sealed: source.stream, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
    for await (const _ of opening.content) break;
    expect(source.released()).toBe(true);
  });

  it('an armor with its line breaks removed: refused in bounded memory and time', async () => {
    // A 6 MB armor on one line: what a reader that waits for the end of the line would hold whole.
    const big = Buffer.alloc(6 * 1024 * 1024, 'A');
    const oneLine = Buffer.concat([sealed.subarray(0, armorBegin), Buffer.from('-----BEGIN PGP MESSAGE-----\r\n\r\n'), big]);
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = heapBefore;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed); }, 5);
    const started = performance.now();
    let r: Result;
    try {
      r = await withinCase(streamOpen(oneLine, 65_536));
    } finally {
      clearInterval(sampler);
    }
    expect(r.kind === 'complete' ? 'complete' : r.code).toBe('MALFORMED_STRUCTURE');
    const ms = performance.now() - started;
    console.log(`one-line armor: ${r.kind} after ${ms.toFixed(0)} ms, heap +${((peak - heapBefore) / 2 ** 20).toFixed(1)} MB`);
    expect(ms).toBeLessThan(1_000);
    // Holding the line would take its size several times over (latin1 string, the split copies).
    expect(peak - heapBefore).toBeLessThan(big.length);
  });

  it('served to IMAP (servedStream): a damaged message ends in a typed abort, never a complete literal', async () => {
    // The verdict prefix and served size of the unaltered message, as its first opening records them.
    const whole = await openStream({ head: sealed.subarray(0, STREAM_HEAD_BYTES), sealed: sourceOf(sealed, 65_536).stream, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
    const facts = await streamFacts(whole, () => false, 'opened');
    const { prefix, size } = facts!;
    await fuzzCases(0x1a9a, 12, async (random) => {
      const bytes = pick(random, [
        () => flipBytes(random, sealed, 4, armorBegin, armorEnd),
        () => truncate(random, sealed, armorBegin + 5000, sealed.length),
        () => rearmored((b) => flipBytes(random, b, 2, 400, b.length)),
      ])();
      const source = sourceOf(bytes, 65_536);
      let opening: StreamOpening;
      try {
        opening = await openStream({ head: bytes.subarray(0, STREAM_HEAD_BYTES), sealed: source.stream, decryptionKey: alice.privateKey, resolveSigner: directory([{ user: sender }]) });
      } catch (err) {
        codeOf(err, 'openStream');
        return;
      }
      let sent = 0;
      const outcome = await withinCase((async () => {
        try {
          for await (const piece of servedStream(opening, prefix, size)) sent += piece.length;
          return 'complete';
        } catch (err) {
          return codeOf(err, 'servedStream');
        }
      })());
      if (outcome === 'complete') expect(sent).toBe(size);
      else {
        expect(sent, 'the literal is never complete when the stream aborts').toBeLessThan(size);
        expect(source.released()).toBe(true);
      }
    });
  });
});
