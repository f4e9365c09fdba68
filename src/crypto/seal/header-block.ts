/**
 * Byte-level handling of a message's header block: split it from the body at the first empty line,
 * and locate header fields (with their folded continuation lines) by byte offsets so that an edit
 * can be undone exactly. Field *values* are interpreted with mailsplit/nodemailer helpers
 * (see header-values.ts); this file only finds where things are.
 */

export interface SplitMessage {
  /** Header lines, each with its own line terminator (empty when the message starts with a blank line). */
  header: Buffer;
  /** The empty line separating header and body ("\r\n" or "\n"), or empty when there is none. */
  separator: Buffer;
  body: Buffer;
}

/** Splits at the first empty line. Without one, the whole input is header and the body is empty. */
export function splitHeaderBlock(raw: Buffer): SplitMessage {
  let lineStart = 0;
  while (lineStart < raw.length) {
    const nl = raw.indexOf(0x0a, lineStart);
    const lineEnd = nl === -1 ? raw.length : nl;
    const contentEnd = lineEnd > lineStart && raw[lineEnd - 1] === 0x0d ? lineEnd - 1 : lineEnd;
    if (contentEnd === lineStart && nl !== -1) {
      return { header: raw.subarray(0, lineStart), separator: raw.subarray(lineStart, nl + 1), body: raw.subarray(nl + 1) };
    }
    if (nl === -1) break;
    lineStart = nl + 1;
  }
  return { header: raw, separator: Buffer.alloc(0), body: Buffer.alloc(0) };
}

export interface FieldSpan {
  /** Field name as written (case preserved). */
  name: string;
  /** Offset of the first byte of the field name. */
  start: number;
  /** Offset just after the last value byte (before the final line terminator). */
  valueEnd: number;
  /** Offset just after the field's final line terminator. */
  end: number;
}

/** Lists header fields with their byte spans; continuation lines (starting with SP/HT) belong to the field above. */
export function listFieldSpans(header: Buffer): FieldSpan[] {
  const fields: FieldSpan[] = [];
  let lineStart = 0;
  while (lineStart < header.length) {
    const nl = header.indexOf(0x0a, lineStart);
    const end = nl === -1 ? header.length : nl + 1;
    let valueEnd = nl === -1 ? header.length : nl;
    if (valueEnd > lineStart && header[valueEnd - 1] === 0x0d) valueEnd -= 1;
    const first = header[lineStart];
    const last = fields[fields.length - 1];
    if ((first === 0x20 || first === 0x09) && last) {
      last.valueEnd = valueEnd;
      last.end = end;
    } else {
      const colon = header.indexOf(0x3a, lineStart);
      const nameEnd = colon === -1 || colon > valueEnd ? valueEnd : colon;
      fields.push({ name: header.toString('latin1', lineStart, nameEnd).trim(), start: lineStart, valueEnd, end });
    }
    lineStart = end;
  }
  return fields;
}

/**
 * First field with that name (case-insensitive), as RFC 5322 readers do for single-instance fields.
 * `spans` (listFieldSpans of the same header) saves the scan when the caller looks up several fields.
 */
export function findField(header: Buffer, name: string, spans: FieldSpan[] = listFieldSpans(header)): FieldSpan | undefined {
  const wanted = name.toLowerCase();
  return spans.find((f) => f.name.toLowerCase() === wanted);
}

/** Unfolded value of a field span (bytes after the colon, CR/LF of folds removed, trimmed). */
export function fieldValue(header: Buffer, span: FieldSpan): string {
  const text = header.toString('utf8', span.start, span.valueEnd);
  const colon = text.indexOf(':');
  return (colon === -1 ? '' : text.slice(colon + 1)).replace(/\r?\n/g, '').trim();
}

/** "\r\n" when the header block uses CRLF (judged on its first line), else "\n". */
export function detectLineEnding(header: Buffer, fallback: Buffer): string {
  const sample = header.length > 0 ? header : fallback;
  const nl = sample.indexOf(0x0a);
  if (nl === -1) return '\r\n';
  return nl > 0 && sample[nl - 1] === 0x0d ? '\r\n' : '\n';
}
