/** Content-Transfer-Encoding decoding for BINARY[] fetches and body SEARCH. */

export function decodeQuotedPrintable(input: Buffer): Buffer {
  const out = Buffer.alloc(input.length);
  let length = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    if (byte !== 0x3d /* = */) {
      out[length++] = byte;
      continue;
    }
    const next = input[i + 1];
    if (next === 0x0d && input[i + 2] === 0x0a) {
      i += 2; // soft line break
      continue;
    }
    if (next === 0x0a) {
      i += 1;
      continue;
    }
    const hex = input.subarray(i + 1, i + 3).toString('latin1');
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[length++] = parseInt(hex, 16);
      i += 2;
    } else {
      out[length++] = byte;
    }
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
