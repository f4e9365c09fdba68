/**
 * Strict OpenPGP radix-64 (RFC 4880 §6 / RFC 9580 §6): base64 with a CRC-24 checksum. openpgp.js
 * v6 ignores the checksum and tolerates damaged padding and END lines; medgate/1 checks them, so that
 * a damaged byte anywhere in a sealed message is reported — even in a key packet addressed to
 * someone else, which this reader's own decryption would never notice.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';

export const CRC24_INIT = 0xb704ce;
/** x^24 + x^23 + x^18 + x^17 + x^14 + x^11 + x^10 + x^7 + x^6 + x^5 + x^4 + x^3 + x + 1 (RFC 9580 §6.1.1), without the x^24 term. */
const CRC24_POLY = 0x864cfb;

/**
 * CRC-24 run on a 32-bit register (the 24-bit CRC in its top three bytes), so that four input bytes
 * are folded per step with four tables ("slicing-by-4"): about twice as fast as one lookup per byte,
 * which matters because every sealed and opened message is checksummed whole.
 * TABLES[0][b] is the register after shifting byte b through 8 steps; TABLES[k][b] the same followed
 * by k zero bytes. The tables are Int32Array, not Uint32Array: values above 2^31 read from a
 * Uint32Array are boxed as heap numbers by unoptimised code, and crc24 called from several places
 * (Buffer and Uint8Array arguments) ran 20× slower inside seal() than in a micro-benchmark.
 */
const CRC24_POLY_32 = CRC24_POLY << 8;
const [T0, T1, T2, T3] = (() => {
  const t0 = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    let crc = b << 24;
    for (let i = 0; i < 8; i++) crc = crc & 0x80000000 ? (crc << 1) ^ CRC24_POLY_32 : crc << 1;
    t0[b] = crc;
  }
  /** One more zero byte after each entry of `prev`. */
  const next = (prev: Int32Array): Int32Array => prev.map((v) => (v << 8) ^ t0[v >>> 24]!);
  const t1 = next(t0);
  const t2 = next(t1);
  return [t0, t1, t2, next(t2)];
})() as [Int32Array, Int32Array, Int32Array, Int32Array];

export function crc24(data: Uint8Array): number {
  return crc24Update(CRC24_INIT, data);
}

/** Continues a CRC-24 (a 24-bit value, e.g. crc24's result) over more bytes: the streamed armor. */
export function crc24Update(start: number, data: Uint8Array): number {
  let crc = start << 8;
  const n = data.length;
  const whole = n - (n % 4);
  let i = 0;
  for (; i < whole; i += 4) {
    const x = crc ^ ((data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!);
    crc = T3[x >>> 24]! ^ T2[(x >>> 16) & 0xff]! ^ T1[(x >>> 8) & 0xff]! ^ T0[x & 0xff]!;
  }
  for (; i < n; i++) crc = (crc << 8) ^ T0[((crc >>> 24) ^ data[i]!) & 0xff]!;
  return (crc >>> 8) & 0xffffff;
}

function crcText(data: Uint8Array): string {
  return crcValueText(crc24(data));
}

/** The four base64 characters of a CRC-24 value (the armor checksum line without its `=`). */
export function crcValueText(crc: number): string {
  return Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]).toString('base64');
}

/** A Buffer view on the same memory (no copy). */
function bytesOf(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const LINE = 76;

/** Base64 lines of 76 characters followed by the checksum line (`=` and four base64 characters). */
export function radix64Lines(data: Uint8Array): string[] {
  const b64 = bytesOf(data).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  lines.push(`=${crcText(data)}`);
  return lines;
}

function malformed(what: string, why: string): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The ${what} is damaged: ${why}`);
}

/** Decodes radix-64 lines (checksum line optional, checked when present). */
export function decodeRadix64(lines: string[], what: string): Uint8Array {
  const body = [...lines];
  let expected: string | undefined;
  const last = body[body.length - 1];
  if (last !== undefined && /^=[A-Za-z0-9+/]{4}$/.test(last)) {
    expected = last.slice(1);
    body.pop();
  }
  const b64 = body.join('');
  if (b64.length === 0 || b64.length % 4 !== 0) throw malformed(what, 'invalid base64');
  const decoded = Buffer.from(b64, 'base64');
  // Node's decoder skips what is not base64, so canonical input is exactly what re-encodes to itself:
  // one encode and compare instead of a regular expression over the whole text. Anything else (rare:
  // non-zero padding bits) still gets the full syntax check.
  if (decoded.toString('base64') !== b64 && !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw malformed(what, 'invalid base64');
  const data = new Uint8Array(decoded);
  if (expected !== undefined && crcText(data) !== expected) throw malformed(what, 'checksum mismatch');
  return data;
}

export const BEGIN = '-----BEGIN PGP MESSAGE-----';
export const END = '-----END PGP MESSAGE-----';

/**
 * ASCII armor with CRLF line ends (MIME canonical form), checksum included (GnuPG 2.2 expects it):
 * BEGIN line, empty line, base64 in lines of 76, `=` checksum line, END line (no final line end).
 * Built as bytes in one buffer — base64 encoded once, lines copied out of it — because this runs over
 * the whole ciphertext of every sealed message.
 */
export function armorMessageBytes(data: Uint8Array): Buffer {
  const b64 = Buffer.from(bytesOf(data).toString('base64'), 'latin1');
  const lineCount = Math.ceil(b64.length / LINE);
  const head = `${BEGIN}\r\n\r\n`;
  const tail = `=${crcText(data)}\r\n${END}`;
  const out = Buffer.allocUnsafe(head.length + b64.length + 2 * lineCount + tail.length);
  let at = out.write(head, 0, 'latin1');
  for (let i = 0; i < b64.length; i += LINE) {
    at += b64.copy(out, at, i, Math.min(i + LINE, b64.length));
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  at += out.write(tail, at, 'latin1');
  if (at !== out.length) throw new Error('unreachable: armor length miscounted');
  return out;
}

/** armorMessageBytes as a string. */
export function armorMessage(data: Uint8Array): string {
  return armorMessageBytes(data).toString('latin1');
}

/**
 * A line split at LF without its CR (if any) and trailing blanks; the common line, which has no
 * trailing blank, is returned without running a regular expression over it.
 */
export function withoutLineEnd(line: string): string {
  const l = line.endsWith('\r') ? line.slice(0, -1) : line;
  const last = l.charCodeAt(l.length - 1);
  return last === 0x20 || last === 0x09 ? l.replace(/[ \t]+$/, '') : l;
}

/** Strictly dearmors one "PGP MESSAGE" block (armor header fields allowed, nothing after END but blank space). */
export function dearmorMessage(text: string, what: string): Uint8Array {
  const lines = text.split('\n').map(withoutLineEnd);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  while (lines.length > 0 && lines[0] === '') lines.shift();
  if (lines[0] !== BEGIN || lines[lines.length - 1] !== END) throw malformed(what, 'armor lines missing or altered');
  const blank = lines.indexOf('');
  if (blank === -1) throw malformed(what, 'armor header not terminated');
  for (const header of lines.slice(1, blank)) {
    if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(header)) throw malformed(what, 'invalid armor header');
  }
  return decodeRadix64(lines.slice(blank + 1, -1), what);
}
