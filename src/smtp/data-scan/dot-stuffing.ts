/**
 * nodemailer's DATA encoder (`lib/smtp-connection/data-stream.js`) doubles a dot that starts a line
 * and turns a bare LF into CRLF, with a JavaScript loop over every byte. Every relayed sealed
 * message (≈ 160 KB of armored text for a 20 KB letter with a 100 KB PDF) went through it: about
 * 0.5 ms of the main thread per message, the largest single JavaScript cost on it (perf, bench/smtp).
 * The same transform is done here with `Buffer.indexOf` (memchr): only line feeds are visited.
 *
 * The output is byte for byte that of nodemailer's loop, quirks included: a chunk's first byte is
 * judged by the last byte of the previous chunk, and at the very start of the stream a leading dot
 * is doubled (nodemailer's `lastByte` is `false` there; a previous chunk that ended with a NUL byte
 * counts the same, as it does in nodemailer). test/smtp/dot-stuffing.test.ts holds the two equal on
 * hand-picked and random inputs cut at random places.
 *
 * It replaces `_transform` on nodemailer's class only while that method is the code it was checked
 * against (src/util/checked-source.ts): after an upgrade nodemailer keeps its own, and the test says so.
 */
import { createRequire } from 'node:module';
import type { Transform, TransformCallback } from 'node:stream';
import { isCheckedSource } from '../../util/checked-source.js';

const require = createRequire(import.meta.url);

/** sha256 of the source of nodemailer 7.0.13's `DataStream.prototype._transform`. */
export const CHECKED_NODEMAILER_TRANSFORM = '2b5d881246d7cf3fe8bcd80935e92ace8de3a27b595be013d6d038d1ea763a84';
const DataStream = require('nodemailer/lib/smtp-connection/data-stream.js') as { prototype: { _transform: unknown } };

/** nodemailer's own transform, kept for the equivalence test. */
export const nodemailerTransform: unknown = DataStream.prototype._transform;

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const DOT_BUFFER = Buffer.from('.');
const CRLF_BUFFER = Buffer.from('\r\n');

/** The state nodemailer's DataStream keeps, which the replacement must keep the same way. */
interface DataStreamState extends Transform {
  inByteCount: number;
  outByteCount: number;
  lastByte: number | false;
}

/**
 * Escapes one chunk: the pieces to emit and their total length, given the previous chunk's last
 * byte (`false` at the start of the stream). Exported for the equivalence test.
 */
export function escapeChunk(chunk: Buffer, lastByte: number | false): { pieces: Buffer[]; length: number } {
  const pieces: Buffer[] = [];
  let length = 0;
  let from = 0;
  // A dot at the start of the chunk starts a line when nothing (or a line feed) came before it.
  if (chunk[0] === DOT && (!lastByte || lastByte === LF)) {
    pieces.push(chunk.subarray(0, 1), DOT_BUFFER);
    length += 2;
    from = 1;
  }
  for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
    const before = lf > 0 ? chunk[lf - 1] : lastByte;
    if (before !== CR) {
      // A bare line feed: what precedes it, then CRLF in its place.
      if (lf > from) pieces.push(chunk.subarray(from, lf));
      pieces.push(CRLF_BUFFER);
      length += lf - from + 2;
      from = lf + 1;
    }
    if (chunk[lf + 1] === DOT) {
      // A dot starting a line: up to and including it, then one more.
      pieces.push(chunk.subarray(from, lf + 2), DOT_BUFFER);
      length += lf + 2 - from + 1;
      from = lf + 2;
    }
  }
  if (from === 0) return { pieces: [chunk], length: chunk.length };
  if (from < chunk.length) {
    pieces.push(chunk.subarray(from));
    length += chunk.length - from;
  }
  return { pieces, length };
}

/** The replacement `_transform` (exported for the equivalence test). */
export function fastTransform(this: DataStreamState, chunk: Buffer | string, _encoding: BufferEncoding, done: TransformCallback): void {
  if (!chunk || !chunk.length) return done();
  const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  this.inByteCount += bytes.length;
  const { pieces, length } = escapeChunk(bytes, this.lastByte);
  this.outByteCount += length;
  this.push(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, length));
  this.lastByte = bytes[bytes.length - 1]!;
  done();
}

let installed: boolean | undefined;

/**
 * Puts the indexOf transform on nodemailer's DataStream, once; returns whether it is in place
 * (false when nodemailer's method is not the one checked).
 */
export function installFastDotStuffing(): boolean {
  if (installed !== undefined) return installed;
  installed = isCheckedSource(nodemailerTransform, CHECKED_NODEMAILER_TRANSFORM);
  if (installed) DataStream.prototype._transform = fastTransform;
  return installed;
}
