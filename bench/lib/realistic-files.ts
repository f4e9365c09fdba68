/**
 * Attachment bytes for the realistic bench mailbox, made here from a seeded generator (no
 * downloaded data): a PDF that a reader opens (one A4 page of text and a scanned-looking image,
 * correct xref), a PNG with correct chunk CRCs, and a JPEG with the markers of a baseline JFIF file
 * around pseudo-random entropy-coded bytes (byte-stuffed like real scan data; the picture itself
 * is noise). Each is exactly the size asked for: what the IMAP servers carry is bytes that do not
 * compress, as real PDFs, photos and scans do not.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';

/** A small seeded PRNG (mulberry32) for choices, and AES-256-CTR over zeros for bulk bytes. */
export class SeededRandom {
  private state: number;
  private readonly key: Buffer;
  private counter = 0;

  constructor(seed: string) {
    const h = crypto.createHash('sha256').update(`medgate-bench:${seed}`).digest();
    this.state = h.readUInt32LE(0);
    this.key = h;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)]!;
  }

  /** `n` pseudo-random bytes; each call continues the same keystream (a fresh IV per call). */
  bytes(n: number): Buffer {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(this.counter++, 0);
    const c = crypto.createCipheriv('aes-256-ctr', this.key, iv);
    return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
  }
}

/** Latin-1 text as a PDF literal string: accents as octal escapes (WinAnsiEncoding agrees for these). */
function pdfString(s: string): string {
  let out = '(';
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    if (ch === '(' || ch === ')' || ch === '\\') out += `\\${ch}`;
    else if (code < 0x20 || code > 0x7e) out += `\\${(code & 0xff).toString(8).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out})`;
}

/**
 * A one-page PDF of exactly `size` bytes (at least ~2 KB): the text lines in Helvetica, a grey
 * image (FlateDecode, like a scan) filling the rest, then a comment that pads to the exact size.
 */
export function makePdf(rng: SeededRandom, size: number, title: string, lines: string[]): Buffer {
  const text = ['BT', '/F1 11 Tf', '56 780 Td', '14 TL', `${pdfString(title)} Tj`, 'T*']
    .concat(lines.slice(0, 40).map((l) => `${pdfString(l.slice(0, 95))} '`))
    .concat(['ET', 'q 480 0 0 200 56 60 cm /Im1 Do Q'])
    .join('\n');
  const head = (image: Buffer, w: number, h: number): Buffer[] => {
    const objs = [
      '<< /Type /Catalog /Pages 2 0 R >>',
      '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
      '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> /Contents 4 0 R >>',
      `<< /Length ${Buffer.byteLength(text, 'latin1')} >>\nstream\n${text}\nendstream`,
      '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    ];
    const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
    objs.forEach((o, i) => parts.push(Buffer.from(`${i + 1} 0 obj\n${o}\nendobj\n`, 'latin1')));
    parts.push(Buffer.from(`6 0 obj\n<< /Type /XObject /Subtype /Image /Width ${w} /Height ${h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length ${image.length} >>\nstream\n`, 'latin1'));
    parts.push(image, Buffer.from('\nendstream\nendobj\n', 'latin1'));
    return parts;
  };
  const tail = (parts: Buffer[], pad: number): Buffer => {
    const body = Buffer.concat(parts);
    // Offsets of "N 0 obj" for the xref table (each entry exactly 20 bytes).
    const offsets: number[] = [];
    for (let i = 1; i <= 6; i++) offsets.push(body.indexOf(`\n${i} 0 obj\n`) + 1);
    // A comment line ("%   ...\n") of exactly `pad` bytes; a single byte is a blank line.
    const padding = Buffer.from(pad >= 2 ? `%${' '.repeat(pad - 2)}\n` : '\n'.repeat(pad), 'latin1');
    const xrefAt = body.length + padding.length;
    const xref = `xref\n0 7\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
    return Buffer.concat([body, padding, Buffer.from(xref, 'latin1')]);
  };
  const bare = tail(head(zlib.deflateSync(Buffer.alloc(1), { level: 0 }), 1, 1), 0).length;
  // Stored deflate of incompressible pixels: predictable length (5 bytes per 64 KiB block + 6).
  const room = Math.max(1, size - bare - 64);
  const w = 256;
  const h = Math.max(1, Math.floor((room - Math.ceil(room / 65535) * 5 - 6) / w));
  const image = zlib.deflateSync(rng.bytes(w * h), { level: 0 });
  const unpadded = tail(head(image, w, h), 0).length;
  if (unpadded > size) return tail(head(image, w, h), 0); // too small a size to hit exactly
  return tail(head(image, w, h), size - unpadded);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A PNG of exactly `size` bytes (at least ~200): RGB noise rows, then a tEXt comment that pads. */
export function makePng(rng: SeededRandom, size: number): Buffer {
  const w = 320;
  const row = 1 + w * 3;
  // signature 8 + IHDR 25 + IDAT 12 + zlib(2 + 5/block + 4) + tEXt 12+8 + IEND 12
  const room = Math.max(row, size - 8 - 25 - 12 - 12 - 20 - 6);
  const h = Math.max(1, Math.floor((room - Math.ceil(room / 65535) * 5) / row));
  const raw = rng.bytes(row * h);
  for (let y = 0; y < h; y++) raw[y * row] = 0; // filter type None on every scanline
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no interlace
  const fixed = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib.deflateSync(raw, { level: 0 }))];
  const used = fixed.reduce((n, b) => n + b.length, 0) + 12 + 12 + 8;
  const comment = Buffer.concat([Buffer.from('Comment\0', 'latin1'), Buffer.from('x'.repeat(Math.max(0, size - used)), 'latin1')]);
  return Buffer.concat([...fixed, pngChunk('tEXt', comment), pngChunk('IEND', Buffer.alloc(0))]);
}

/** Standard luminance quantisation table (ITU T.81 K.1), zig-zag order is irrelevant to size. */
const DQT = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99];

function segment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xff00 | marker, 0);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/**
 * JPEG-like bytes of exactly `size`: SOI, APP0 JFIF, DQT, SOF0 (grey, dimensions from the size),
 * DHT (DC table 0), SOS, pseudo-random entropy-coded data with 0xFF byte-stuffed as a real encoder
 * does, EOI. Decoders read the structure; the scan decodes to noise or stops early.
 */
export function makeJpeg(rng: SeededRandom, size: number): Buffer {
  const app0 = segment(0xe0, Buffer.from([0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 1, 0, 72, 0, 72, 0, 0]));
  const dqt = segment(0xdb, Buffer.from([0, ...DQT]));
  const side = Math.max(8, Math.round(Math.sqrt(size * 4)) & ~7);
  const sof = segment(0xc0, Buffer.from([8, side >> 8, side & 0xff, side >> 8, side & 0xff, 1, 1, 0x11, 0]));
  const dht = segment(0xc4, Buffer.from([0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  const sos = segment(0xda, Buffer.from([1, 1, 0x00, 0, 63, 0]));
  const head = Buffer.concat([Buffer.from([0xff, 0xd8]), app0, dqt, sof, dht, sos]);
  const want = Math.max(0, size - head.length - 2);
  const scan = Buffer.alloc(want);
  const src = rng.bytes(want);
  let o = 0;
  for (let i = 0; o < want; i++) {
    const b = src[i % src.length]!;
    if (b === 0xff) {
      if (o + 1 >= want) { scan[o++] = 0x00; continue; } // no room for the stuffing byte
      scan[o++] = 0xff;
      scan[o++] = 0x00;
    } else scan[o++] = b;
  }
  return Buffer.concat([head, scan, Buffer.from([0xff, 0xd9])]);
}
