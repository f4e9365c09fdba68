/**
 * What the fuzz suites share: a seed that can be replayed, a loop that names the seed and the case
 * when one fails, and the mutations of a real valid sample (bit flips, truncation, splicing, header
 * duplication, huge fields, deep MIME nesting, bad encodings).
 *
 * Each suite has its own base seed; `MEDGATE_FUZZ_SEED=<n>` replaces it, so a failure printed as
 * "seed 1234, case 17" is replayed with `MEDGATE_FUZZ_SEED=1234 npx vitest run <file>`.
 */
import { seededRandom } from './random-cuts.js';

export { seededRandom };

/** The seed a suite runs with: the replay seed when one is given, else the suite's own. */
export function fuzzSeed(base: number): number {
  const replay = process.env['MEDGATE_FUZZ_SEED'];
  if (replay === undefined || replay === '') return base;
  const n = Number(replay);
  if (!Number.isInteger(n)) throw new Error(`MEDGATE_FUZZ_SEED must be an integer, not ${JSON.stringify(replay)}`);
  return n;
}

/**
 * Runs `cases` seeded cases, one generator for the whole run (so case k depends on cases before it:
 * replay the seed, not the case alone). A failing case is rethrown with its seed and number.
 */
export async function fuzzCases(base: number, cases: number, run: (random: () => number, index: number) => Promise<void> | void): Promise<void> {
  const seed = fuzzSeed(base);
  const random = seededRandom(seed);
  for (let i = 0; i < cases; i++) {
    try {
      await run(random, i);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`fuzz seed ${seed}, case ${i} failed (replay: MEDGATE_FUZZ_SEED=${seed}): ${why}`, { cause: err });
    }
  }
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

export function between(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** 1..`max` bytes replaced by random ones, or single bits flipped. */
export function flipBytes(random: () => number, input: Buffer, max = 8, from = 0, to = input.length): Buffer {
  const out = Buffer.from(input);
  if (to <= from) return out;
  const n = between(random, 1, max);
  for (let k = 0; k < n; k++) {
    const at = between(random, from, to - 1);
    out[at] = random() < 0.5 ? out[at]! ^ (1 << Math.floor(random() * 8)) : Math.floor(random() * 256);
  }
  return out;
}

/** The first `cut` bytes, cut anywhere in [from, to). */
export function truncate(random: () => number, input: Buffer, from = 0, to = input.length): Buffer {
  return input.subarray(0, between(random, from, Math.max(from, to - 1)));
}

/** A random slice of the input copied over (or inserted at) another place: re-ordered, repeated bytes. */
export function splice(random: () => number, input: Buffer, from = 0, to = input.length): Buffer {
  if (to - from < 2) return Buffer.from(input);
  const a = between(random, from, to - 1);
  const len = between(random, 1, Math.min(4096, to - a));
  const piece = Buffer.from(input.subarray(a, a + len));
  const at = between(random, from, to - 1);
  if (random() < 0.5) return Buffer.concat([input.subarray(0, at), piece, input.subarray(at)]);
  const out = Buffer.from(input);
  piece.copy(out, at);
  return out;
}

/** Two slices swapped: the same bytes in another order. */
export function swapSlices(random: () => number, input: Buffer, from = 0, to = input.length): Buffer {
  if (to - from < 4) return Buffer.from(input);
  const len = between(random, 1, Math.min(8192, Math.floor((to - from) / 2)));
  const a = between(random, from, to - 2 * len);
  const b = between(random, a + len, to - len);
  return Buffer.concat([input.subarray(0, a), input.subarray(b, b + len), input.subarray(a + len, b), input.subarray(a, a + len), input.subarray(b + len)]);
}

/** Where the header block of a MIME entity ends (the blank line), or the whole length. */
function headerEnd(input: Buffer): number {
  const crlf = input.indexOf('\r\n\r\n');
  const lf = input.indexOf('\n\n');
  if (crlf < 0 && lf < 0) return input.length;
  if (crlf < 0) return lf + 1;
  if (lf < 0) return crlf + 2;
  return Math.min(crlf + 2, lf + 1);
}

/** One header field of the top header block repeated 1..`max` times. */
export function duplicateHeader(random: () => number, input: Buffer, max = 50): Buffer {
  const end = headerEnd(input);
  const lines = input.subarray(0, end).toString('latin1').split(/(?<=\n)/);
  const fields: string[] = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && fields.length) fields[fields.length - 1] += l;
    else if (l.trim()) fields.push(l);
  }
  if (!fields.length) return Buffer.from(input);
  const field = pick(random, fields);
  const copies = field.repeat(between(random, 1, max));
  return Buffer.concat([Buffer.from(copies, 'latin1'), input]);
}

/** A header field of `size` bytes, folded or on one line, added to the top header block. */
export function hugeField(random: () => number, input: Buffer, name: string, size: number): Buffer {
  const folded = random() < 0.5;
  const unit = folded ? 'a'.repeat(70) + '\r\n ' : 'a';
  const value = unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
  return Buffer.concat([Buffer.from(`${name}: ${value}\r\n`, 'latin1'), input]);
}

/** `depth` multipart/mixed levels around `inner` (a whole entity: header block and body). */
export function deepNesting(depth: number, inner: Buffer): Buffer {
  const head: string[] = [];
  const tail: string[] = [];
  for (let d = 0; d < depth; d++) {
    head.push(`Content-Type: multipart/mixed; boundary="n${d}"\r\n\r\n--n${d}\r\n`);
    tail.unshift(`\r\n--n${d}--\r\n`);
  }
  return Buffer.concat([Buffer.from(head.join(''), 'latin1'), inner, Buffer.from(tail.join(''), 'latin1')]);
}

/** Bytes that are no valid text: lone UTF-8 continuation and lead bytes, NUL, bare CR, broken =XX and base64. */
export function badEncoding(random: () => number): string {
  return pick(random, [
    '\x80\xbf\xc3(\xe2\x82\xf0\x9f\x98',
    '=?utf-8?B?////?= =?utf-8?Q?=ZZ=E9=?= =?x-unknown?B?AAAA?=',
    '\0\0\r\r\n\x1b[2J',
    '=\r\n=4=G=\r\n',
    'AAAA====!!!@@@',
    '\uFEFF\uFFFF\uD800',
  ]);
}
