import { describe, expect, it } from 'vitest';
import { toCrlf } from '../../src/util/crlf.js';

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
