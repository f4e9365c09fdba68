/**
 * The radix-64 armor medgate/1 writes and checks: the table-driven CRC-24 against the bit-by-bit
 * definition of RFC 9580 §6.1.1, and the byte-built armor against the plain line-joining form it
 * replaced (so messages sealed before and after the change look the same to every reader).
 */
import { randomBytes } from 'node:crypto';
import * as openpgp from 'openpgp';
import { describe, expect, it } from 'vitest';
import { armorMessage, armorMessageBytes, crc24, dearmorMessage, radix64Lines } from '../../src/crypto/seal/radix64.js';

/** RFC 9580 §6.1.1 reference code, one bit at a time. */
function crc24Reference(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

/** The armor as first written: base64 cut in 76-character lines, checksum line, joined with CRLF. */
function armorReference(data: Uint8Array): string {
  const b64 = Buffer.from(data).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  const crc = crc24Reference(data);
  const crcText = Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64');
  return ['-----BEGIN PGP MESSAGE-----', '', ...lines, `=${crcText}`, '-----END PGP MESSAGE-----'].join('\r\n');
}

/** Sizes around every remainder of the 4-byte CRC steps and the 57-byte base64 lines. */
const SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 56, 57, 58, 113, 114, 115, 1000, 20_700, 65_537];

describe('CRC-24', () => {
  it('gives the CRC-24/OPENPGP check value for "123456789"', () => {
    expect(crc24(Buffer.from('123456789', 'ascii'))).toBe(0x21cf02);
  });

  it('equals the bit-by-bit reference for every length and for subarray views', () => {
    for (const size of SIZES) {
      const data = randomBytes(size);
      expect(crc24(data), `size ${size}`).toBe(crc24Reference(data));
      if (size > 3) {
        const view = new Uint8Array(data.buffer, data.byteOffset + 1, size - 3);
        expect(crc24(view), `view of ${size}`).toBe(crc24Reference(view));
      }
    }
  });

  it('changes when any single bit changes', () => {
    const data = randomBytes(333);
    const clean = crc24(data);
    for (let bit = 0; bit < data.length * 8; bit += 37) {
      const damaged = Buffer.from(data);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      expect(crc24(damaged)).not.toBe(clean);
    }
  });
});

describe('armorMessageBytes', () => {
  it('writes exactly the line-joined armor, for every length', () => {
    for (const size of SIZES) {
      const data = randomBytes(size);
      const bytes = armorMessageBytes(data);
      expect(bytes.toString('latin1'), `size ${size}`).toBe(armorReference(data));
      expect(armorMessage(data)).toBe(armorReference(data));
    }
  });

  it('armors a view on a larger buffer without reading outside it', () => {
    const big = randomBytes(5000);
    const view = big.subarray(100, 4100);
    expect(armorMessageBytes(view).toString('latin1')).toBe(armorReference(Buffer.from(view)));
  });

  it('round-trips through the strict dearmor and through openpgp.js', async () => {
    const data = randomBytes(20_700);
    const text = armorMessage(data);
    expect(Buffer.from(dearmorMessage(text, 'message')).equals(data)).toBe(true);
    const { data: theirs } = await openpgp.unarmor(text);
    expect(Buffer.from(theirs as Uint8Array).equals(data)).toBe(true);
    expect(text.split('\r\n').every((line) => line.length <= 76)).toBe(true);
  });

  it('radix64Lines ends with the checksum line of the same CRC', () => {
    const data = randomBytes(500);
    const lines = radix64Lines(data);
    const crc = crc24Reference(data);
    expect(lines[lines.length - 1]).toBe(`=${Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64')}`);
    expect(lines.slice(0, -1).join('')).toBe(data.toString('base64'));
  });
});

describe('dearmorMessage (strict)', () => {
  const data = randomBytes(300);
  const text = armorMessage(data);
  const lines = text.split('\r\n');
  const withBody = (edit: (body: string[]) => string[]) => [...lines.slice(0, 2), ...edit(lines.slice(2, -2)), ...lines.slice(-2)].join('\r\n');
  const refusal = (t: string) => {
    try {
      dearmorMessage(t, 'message');
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('accepts LF line ends, trailing blanks, blank lines around the block and armor header fields', () => {
    const variants = [
      text.replace(/\r\n/g, '\n'),
      text.replace(/\r\n/g, ' \t\r\n'),
      `\r\n\r\n${text}\r\n\r\n`,
      text.replace('-----\r\n\r\n', '-----\r\nComment: medgate\r\n\r\n'),
    ];
    for (const v of variants) expect(Buffer.from(dearmorMessage(v, 'message')).equals(data)).toBe(true);
  });

  it('still accepts base64 whose last padding bits are not zero (as before), checked by the CRC', () => {
    const one = Buffer.from([0x41]);
    const nonCanonical = armorMessage(one).replace('QQ==', 'QR==');
    expect(Buffer.from(dearmorMessage(nonCanonical, 'message')).equals(one)).toBe(true);
  });

  it('refuses characters outside base64, padding inside the data, a CR inside a line, and a wrong checksum', () => {
    expect(refusal(withBody((b) => [b[0]!.replace(/^./, '*'), ...b.slice(1)]))).toMatch(/invalid base64/);
    expect(refusal(withBody((b) => [b[0]!.slice(0, -4) + 'AA==', ...b.slice(1)]))).toMatch(/invalid base64/);
    expect(refusal(withBody((b) => [b[0]!.slice(0, 10) + '\r' + b[0]!.slice(10), ...b.slice(1)]))).toMatch(/invalid base64/);
    expect(refusal(withBody((b) => [b[0]!.slice(0, 10) + ' ' + b[0]!.slice(10), ...b.slice(1)]))).toMatch(/invalid base64/);
    const crcLine = lines[lines.length - 2]!;
    const otherCrc = crcLine === '=AAAA' ? '=AAAB' : '=AAAA';
    expect(refusal(text.replace(`\r\n${crcLine}\r\n`, `\r\n${otherCrc}\r\n`))).toMatch(/checksum mismatch/);
  });
});
