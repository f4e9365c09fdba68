import { describe, expect, it } from 'vitest';
import { CrlfStream, toCrlf } from '../../src/util/crlf.js';

describe('toCrlf: messages are served with CRLF line endings', () => {
  it('turns bare LF into CRLF and leaves CRLF, bare CR and the last line alone', () => {
    expect(toCrlf(Buffer.from('a\nb\r\nc\rd\n\ne')).toString()).toBe('a\r\nb\r\nc\rd\r\n\r\ne');
    expect(toCrlf(Buffer.from('\nx')).toString()).toBe('\r\nx');
  });

  it('returns the same buffer when nothing changes (no copy of a large message)', () => {
    const crlf = Buffer.from('From: a@b\r\n\r\nbody\r\n');
    expect(toCrlf(crlf)).toBe(crlf);
  });

  it('leaves content with NUL bytes as it is: its LF bytes are binary data (RFC 3516)', () => {
    const binary = Buffer.from([0x41, 0x0a, 0x00, 0x0a, 0xe4]);
    expect(toCrlf(binary)).toBe(binary);
  });
});

describe('CrlfStream: toCrlf over a message in pieces (streamed FETCH)', () => {
  const pieces = (b: Buffer, size: number) => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

  it('gives toCrlf\'s bytes whatever the cut, also between CR and LF', () => {
    const text = Buffer.from('a\nb\r\nc\rd\n\ne\r\r\n\n\r\nend\n');
    for (let size = 1; size <= text.length; size++) {
      const s = new CrlfStream();
      const out = Buffer.concat(pieces(text, size).map((p) => s.push(p)));
      expect(out.toString()).toBe(toCrlf(text).toString());
      expect(s.diverged).toBe(false);
    }
  });

  it('stops converting at a NUL byte and says when it already converted (toCrlf would not have)', () => {
    const late = new CrlfStream();
    late.push(Buffer.from('a\nb'));
    late.push(Buffer.from([0x00, 0x0a]));
    expect(late.diverged).toBe(true);
    const early = new CrlfStream();
    const out = Buffer.concat([early.push(Buffer.from([0x41, 0x00])), early.push(Buffer.from('\nx\n'))]);
    expect(early.diverged).toBe(false);
    expect(out.equals(toCrlf(Buffer.from([0x41, 0x00, 0x0a, 0x78, 0x0a])))).toBe(true);
  });
});
