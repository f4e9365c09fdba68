/**
 * The relay's DATA encoder (src/smtp/outbound/dot-stuffing.ts) must emit exactly what nodemailer's
 * own loop emits, for any bytes cut at any places: a difference would change a relayed message (its
 * signatures) or, worse, let a line that is a lone dot end the DATA early at the peer.
 */
import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fastTransform, installFastDotStuffing, nodemailerTransform } from '../../src/smtp/data-scan/dot-stuffing.js';
import { cutAtRandom, seededRandom } from '../helpers/random-cuts.js';

const require = createRequire(import.meta.url);
const DataStream = require('nodemailer/lib/smtp-connection/data-stream.js') as new () => Transform & { inByteCount: number; outByteCount: number };

async function encode(transform: unknown, chunks: Buffer[]): Promise<{ out: Buffer; pushes: number[]; inBytes: number; outBytes: number }> {
  const stream = new DataStream();
  (stream as unknown as { _transform: unknown })._transform = transform;
  const parts: Buffer[] = [];
  stream.on('data', (b: Buffer) => parts.push(b));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  for (const c of chunks) stream.write(c);
  stream.end();
  await ended;
  return { out: Buffer.concat(parts), pushes: parts.map((p) => p.length), inBytes: stream.inByteCount, outBytes: stream.outByteCount };
}

const random = seededRandom;
const cut = (bytes: Buffer, next: () => number): Buffer[] => cutAtRandom(bytes, next, 3, 200);

describe('relay dot-stuffing', () => {
  it('is in place on the nodemailer version this repository installs', () => {
    expect(installFastDotStuffing()).toBe(true);
    // The kept original is nodemailer's, not ours.
    expect(nodemailerTransform).not.toBe(fastTransform);
  });

  it('encodes hand-picked cases as nodemailer does', async () => {
    const cases = [
      '.', '..', '.\r\n', '\n.', '\r\n.\r\n', 'a\n.b\n', '.\n.\n.', 'x\r\n..y', '\n\n\n', '\r\r\n\n', 'a\0', '\0.',
      'line\r\n.\r\nQUIT\r\n', 'end with dot.', 'end\n', 'end\r', '-----BEGIN PGP MESSAGE-----\r\n\r\nwcFMA\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n',
    ];
    for (const text of cases) {
      const bytes = Buffer.from(text, 'latin1');
      // Whole, one byte at a time, and split after every position.
      const splits: Buffer[][] = [[bytes], [...bytes].map((b) => Buffer.from([b]))];
      for (let i = 1; i < bytes.length; i++) splits.push([bytes.subarray(0, i), bytes.subarray(i)]);
      for (const chunks of splits) {
        const want = await encode(nodemailerTransform, chunks);
        const got = await encode(fastTransform, chunks);
        expect({ text, out: got.out.toString('latin1') }).toEqual({ text, out: want.out.toString('latin1') });
        expect(got).toEqual(want);
      }
    }
  });

  it('encodes 2000 random inputs cut at random places as nodemailer does (same bytes, same pushes, same counts)', async () => {
    const next = random(20261206);
    const alphabet = [0x2e, 0x2e, 0x0a, 0x0a, 0x0d, 0x0d, 0x61, 0x00, 0x20];
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(next() * 400) }, () => alphabet[Math.floor(next() * alphabet.length)]!));
      const chunks = cut(bytes, next);
      const want = await encode(nodemailerTransform, chunks);
      const got = await encode(fastTransform, chunks);
      if (!got.out.equals(want.out) || got.outBytes !== want.outBytes) expect({ n, input: bytes.toString('hex'), got: got.out.toString('hex') }).toEqual({ n, input: bytes.toString('hex'), got: want.out.toString('hex') });
      expect(got).toEqual(want);
    }
  });
});
