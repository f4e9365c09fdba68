/** Content-Transfer-Encoding decoding for BINARY[] fetches and body SEARCH. */

const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * RFC 2045 §6.7: trailing spaces and tabs of an encoded line are transport padding and are
 * dropped (rule 3), a line ending in `=` is a soft line break (rule 5, and the `=` may itself be
 * followed by padding), `=XX` is one octet; a malformed `=` is kept as it is. Hard line breaks
 * keep their own line ending.
 */
export function decodeQuotedPrintable(input: Buffer): Buffer {
  const out = Buffer.alloc(input.length);
  let length = 0;
  let lineStart = 0;
  while (lineStart < input.length) {
    const lf = input.indexOf(0x0a, lineStart);
    const contentEnd = lf === -1 ? input.length : lf > lineStart && input[lf - 1] === 0x0d ? lf - 1 : lf;
    let end = contentEnd;
    while (end > lineStart && (input[end - 1] === 0x20 || input[end - 1] === 0x09)) end--;
    // A `=` ending the line cannot start an `=XX`, so it is always the soft break.
    const soft = end > lineStart && input[end - 1] === 0x3d;
    if (soft) end--;
    for (let i = lineStart; i < end; i++) {
      const byte = input[i] as number;
      const hex = byte === 0x3d && i + 2 < end ? input.subarray(i + 1, i + 3).toString('latin1') : '';
      if (HEX.test(hex)) {
        out[length++] = parseInt(hex, 16);
        i += 2;
      } else {
        out[length++] = byte;
      }
    }
    if (lf === -1) break;
    if (!soft) length += input.copy(out, length, contentEnd, lf + 1);
    lineStart = lf + 1;
  }
  return out.subarray(0, length);
}

/** Returns null for an encoding we do not know (answered with [UNKNOWN-CTE]). */
export function decodeTransferEncoding(body: Buffer, encoding: string): Buffer | null {
  switch (encoding.toLowerCase()) {
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return body;
    case 'base64':
      return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    default:
      return null;
  }
}

/** Best-effort text of a part for SEARCH: transfer-decoded, then charset-decoded. */
export function decodeText(body: Buffer, encoding: string, charset: string | undefined): string {
  const bytes = decodeTransferEncoding(body, encoding) ?? body;
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** Decodes RFC 2047 encoded words for header SEARCH (the protocol never rewrites headers). */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?*]+)(?:\*[^?]*)?\?([BbQq])\?([^?]*)\?=/g, (whole, charset: string, kind: string, text: string) => {
      try {
        const bytes =
          kind.toUpperCase() === 'B'
            ? Buffer.from(text, 'base64')
            : decodeQuotedPrintable(Buffer.from(text.replace(/_/g, ' '), 'latin1'));
        return new TextDecoder(charset).decode(bytes);
      } catch {
        return whole;
      }
    });
}
