/**
 * IMAP serves messages with CRLF line endings (RFC 3501 §2.3.1 / RFC 9051 §2.3.1: a message's lines end
 * in CRLF), whatever the submitter sent: practice software often submits bare LF. Dovecot does the same
 * conversion. The result is a new buffer only when there is something to change. Content with NUL
 * bytes is binary (RFC 3516 APPEND of a literal8): its LF bytes are data, so it is left as it is.
 */
export function toCrlf(bytes: Buffer): Buffer {
  if (bytes.includes(0)) return bytes;
  let bare = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) if (i === 0 || bytes[i - 1] !== 0x0d) bare++;
  if (bare === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + bare);
  let from = 0;
  let to = 0;
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (i > 0 && bytes[i - 1] === 0x0d) continue;
    to += bytes.copy(out, to, from, i);
    out[to++] = 0x0d;
    out[to++] = 0x0a;
    from = i + 1;
  }
  bytes.copy(out, to, from);
  return out;
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
    let bare = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) if (i === 0 ? !prevCr : bytes[i - 1] !== 0x0d) bare++;
    if (bare === 0) return bytes;
    this.converted += bare;
    const out = Buffer.allocUnsafe(bytes.length + bare);
    let from = 0;
    let to = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
      if (i === 0 ? prevCr : bytes[i - 1] === 0x0d) continue;
      to += bytes.copy(out, to, from, i);
      out[to++] = 0x0d;
      out[to++] = 0x0a;
      from = i + 1;
    }
    bytes.copy(out, to, from);
    return out;
  }
}
