/**
 * Splits an RFC 5322 header block into fields, keeping each field's exact bytes (for
 * BODY[HEADER.FIELDS]) and its unfolded value (for ENVELOPE and SEARCH).
 */

export interface HeaderField {
  /** Lower-case field name. */
  name: string;
  /** Exact bytes of the field including folding and the line ending. */
  raw: Buffer;
  /** Value with folding removed and surrounding whitespace trimmed. */
  value: string;
}

export function splitHeaderFields(block: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let start = 0;
  let lineStart = 0;
  const flush = (end: number): void => {
    if (end <= start) return;
    const raw = block.subarray(start, end);
    const text = raw.toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) {
      const name = text.slice(0, colon).trim().toLowerCase();
      const value = text
        .slice(colon + 1)
        .replace(/\r?\n(?=[ \t])/g, '')
        .replace(/\r?\n$/, '')
        .trim();
      fields.push({ name, raw, value });
    }
  };
  while (lineStart < block.length) {
    const lf = block.indexOf(0x0a, lineStart);
    const lineEnd = lf === -1 ? block.length : lf + 1;
    const first = block[lineStart];
    const isBlank = lineEnd - lineStart <= 2 && (first === 0x0d || first === 0x0a);
    if (isBlank) break;
    if (first !== 0x20 && first !== 0x09 && lineStart !== start) {
      flush(lineStart);
      start = lineStart;
    }
    lineStart = lineEnd;
  }
  flush(lineStart);
  return fields;
}

export function firstFieldValue(fields: HeaderField[], name: string): string | null {
  return fields.find((field) => field.name === name)?.value ?? null;
}
