/**
 * Strict OpenPGP radix-64 (RFC 4880 §6 / RFC 9580 §6): base64 with a CRC-24 checksum. openpgp.js
 * v6 ignores the checksum and tolerates damaged padding and END lines; medgate/1 checks them, so that
 * a damaged byte anywhere in a sealed message is reported — even in a key packet addressed to
 * someone else, which this reader's own decryption would never notice.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';

const CRC24_INIT = 0xb704ce;
const CRC24_POLY = 0x1864cfb;

/** CRC-24 of every byte value shifted into the top byte: one table lookup per input byte. */
const CRC24_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    let crc = b << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= CRC24_POLY;
    }
    table[b] = crc & 0xffffff;
  }
  return table;
})();

export function crc24(data: Uint8Array): number {
  return crc24Update(CRC24_INIT, data);
}

/** Continues a CRC-24 over more bytes (streamed armor); start from crc24(new Uint8Array()). */
export function crc24Update(start: number, data: Uint8Array): number {
  let crc = start;
  for (let i = 0; i < data.length; i++) crc = ((crc << 8) & 0xffffff) ^ CRC24_TABLE[((crc >> 16) ^ data[i]!) & 0xff]!;
  return crc;
}

function crcText(data: Uint8Array): string {
  return crcValueText(crc24(data));
}

/** The four base64 characters of a CRC-24 value (the armor checksum line without its `=`). */
export function crcValueText(crc: number): string {
  return Buffer.from([(crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff]).toString('base64');
}

/** Base64 lines of 76 characters followed by the checksum line (`=` and four base64 characters). */
export function radix64Lines(data: Uint8Array): string[] {
  const b64 = Buffer.from(data).toString('base64');
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
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw malformed(what, 'invalid base64');
  const data = new Uint8Array(Buffer.from(b64, 'base64'));
  if (expected !== undefined && crcText(data) !== expected) throw malformed(what, 'checksum mismatch');
  return data;
}

export const BEGIN = '-----BEGIN PGP MESSAGE-----';
export const END = '-----END PGP MESSAGE-----';

/** ASCII armor with CRLF line ends (MIME canonical form), checksum included (GnuPG 2.2 expects it). */
export function armorMessage(data: Uint8Array): string {
  return [BEGIN, '', ...radix64Lines(data), END].join('\r\n');
}

/** Strictly dearmors one "PGP MESSAGE" block (armor header fields allowed, nothing after END but blank space). */
export function dearmorMessage(text: string, what: string): Uint8Array {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/[ \t]+$/, ''));
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
