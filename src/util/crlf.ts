/**
 * IMAP serves messages with CRLF line endings (RFC 3501 §2.3.1 / RFC 9051 §2.3.1: a message's lines end
 * in CRLF), whatever the submitter sent: practice software often submits bare LF. Dovecot does the same
 * conversion. The result is a new buffer only when there is something to change. Content with NUL
 * bytes is binary (RFC 3516 APPEND of a literal8): its LF bytes are data, so it is left as it is.
 */
export function toCrlf(bytes: Buffer): Buffer {
  if (bytes.includes(0)) return bytes;
  return bareLfToCrlf(bytes, false).out;
}

/**
 * Every LF not preceded by CR becomes CRLF; `prevCr` says whether the byte before `bytes` (the end of
 * the previous piece of a stream) was a CR. Returns the input itself when nothing changes.
 */
function bareLfToCrlf(bytes: Buffer, prevCr: boolean): { out: Buffer; bare: number } {
  const isBare = (i: number): boolean => (i === 0 ? !prevCr : bytes[i - 1] !== 0x0d);
  let bare = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) if (isBare(i)) bare++;
  if (bare === 0) return { out: bytes, bare };
  const out = Buffer.allocUnsafe(bytes.length + bare);
  let from = 0;
  let to = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (!isBare(i)) continue;
    to += bytes.copy(out, to, from, i);
    out[to++] = 0x0d;
    out[to++] = 0x0a;
    from = i + 1;
  }
  bytes.copy(out, to, from);
  return { out, bare };
}

/**
 * toCrlf over a message that arrives in pieces (a streamed FETCH): the same bytes out as toCrlf of
 * the whole, as long as the message holds no NUL byte. toCrlf leaves a message with a NUL byte
 * anywhere as it is; a stream cannot know that before the end, so once a NUL is seen nothing more
 * is converted, and `diverged` tells whether what was already converted differs from toCrlf's
 * answer (the caller then gives up on streaming that message).
 */
export class CrlfStream {
  private lastWasCr = false;
  /** Bare LFs turned into CRLF so far. */
  converted = 0;
  sawNul = false;

  get diverged(): boolean {
    return this.sawNul && this.converted > 0;
  }

  push(bytes: Buffer): Buffer {
    if (bytes.length === 0) return bytes;
    if (!this.sawNul && bytes.includes(0)) this.sawNul = true;
    const prevCr = this.lastWasCr;
    this.lastWasCr = bytes[bytes.length - 1] === 0x0d;
    if (this.sawNul) return bytes;
    const { out, bare } = bareLfToCrlf(bytes, prevCr);
    this.converted += bare;
    return out;
  }
}
