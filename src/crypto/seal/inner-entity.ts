/**
 * The cryptographic payload of medgate/1 (RFC 9788 header protection): the original message, all
 * its header fields included, with three reversible additions so that `open` can give back the
 * submitted bytes exactly:
 *   1. `hp="cipher"; protected-headers="v1"` appended to the end of its Content-Type field value
 *      (or a Content-Type field added when the original had none);
 *   2. `HP-Outer:` fields recording the outer header fields (RFC 9788 §2.2), so a reader can tell
 *      which header fields were obscured on the outside;
 *   3. a last `X-Medgate-Inner:` field saying how many lines were added and what to undo.
 * All additions go at the end of the header block, so the original bytes before them are untouched.
 */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { detectLineEnding, findField, listFieldSpans, splitHeaderBlock } from './header-block.js';
import { parseContentType } from './header-values.js';

export const HP_PARAMS = '; hp="cipher"; protected-headers="v1"';
export const INNER_MARKER_FIELD = 'X-Medgate-Inner';

type CtMode = 'appended' | 'inserted' | 'kept';

export interface OuterFieldsForHp {
  /** Outer header fields as [name, value], recorded as `HP-Outer: name: value`. */
  fields: Array<[string, string]>;
}

export function buildInnerEntity(raw: Buffer, outer: OuterFieldsForHp): Buffer {
  const { header, separator, body } = splitHeaderBlock(raw);
  const eol = detectLineEnding(header, separator);
  const finalEol = header.length === 0 || header[header.length - 1] === 0x0a;
  const spans = listFieldSpans(header);
  const ct = parseContentType(header, spans);

  let mode: CtMode;
  let headerOut: Buffer;
  const added: string[] = [];
  if (!ct.present) {
    mode = 'inserted';
    headerOut = header;
    added.push(`Content-Type: text/plain; charset=us-ascii${HP_PARAMS}`);
  } else if ('protected-headers' in ct.params || 'hp' in ct.params) {
    mode = 'kept';
    headerOut = header;
  } else {
    mode = 'appended';
    const span = findField(header, 'content-type', spans);
    if (!span) throw new Error('unreachable: Content-Type present but not found');
    headerOut = Buffer.concat([header.subarray(0, span.valueEnd), Buffer.from(HP_PARAMS, 'latin1'), header.subarray(span.valueEnd)]);
  }
  for (const [name, value] of outer.fields) added.push(`HP-Outer: ${name}: ${value}`);
  const markerLines = 1;
  const total = added.length + markerLines;
  added.push(`${INNER_MARKER_FIELD}: v=1; lines=${total}; ct=${mode}; sep=${separator.length > 0 ? 1 : 0}; eol=${finalEol ? 1 : 0}`);

  const addedBytes = Buffer.from((finalEol ? '' : eol) + added.join(eol) + eol, 'utf8');
  const sep = separator.length > 0 ? separator : Buffer.from(eol, 'latin1');
  return Buffer.concat([headerOut, addedBytes, sep, body]);
}

function malformed(why: string): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `Decrypted payload is not a medgate/1 inner entity: ${why}`);
}

/** Undoes buildInnerEntity byte for byte. Throws MALFORMED_STRUCTURE when the payload lacks the marker. */
export function restoreOriginal(inner: Buffer): Buffer {
  const { header, separator, body } = splitHeaderBlock(inner);
  if (separator.length === 0) throw malformed('no header/body separator');
  // The marker is the last header line; it is never folded.
  const lastLineStart = header.lastIndexOf(0x0a, header.length - 2) + 1;
  const markerLine = header.toString('latin1', lastLineStart).replace(/\r?\n$/, '');
  const m = /^X-Medgate-Inner: v=1; lines=(\d+); ct=(appended|inserted|kept); sep=([01]); eol=([01])$/.exec(markerLine);
  if (!m) throw malformed('marker field missing');
  const lines = Number(m[1]);
  const mode = m[2] as CtMode;
  const hadSeparator = m[3] === '1';
  const hadFinalEol = m[4] === '1';

  // Find the start of the `lines` last physical lines.
  let cut = header.length;
  for (let i = 0; i < lines; i++) {
    if (cut === 0) throw malformed('marker counts more lines than present');
    cut = cut >= 2 ? header.lastIndexOf(0x0a, cut - 2) + 1 : 0;
  }
  let original = header.subarray(0, cut);
  if (!hadFinalEol) {
    const strip = original.length >= 2 && original[original.length - 2] === 0x0d ? 2 : 1;
    original = original.subarray(0, original.length - strip);
  }
  if (mode === 'appended') {
    const span = findField(original, 'content-type');
    const params = Buffer.from(HP_PARAMS, 'latin1');
    if (!span || span.valueEnd < params.length || !original.subarray(span.valueEnd - params.length, span.valueEnd).equals(params)) {
      throw malformed('protected-headers parameter not where recorded');
    }
    original = Buffer.concat([original.subarray(0, span.valueEnd - params.length), original.subarray(span.valueEnd)]);
  }
  if (!hadSeparator) {
    if (body.length > 0) throw malformed('body present although none was recorded');
    return Buffer.from(original);
  }
  return Buffer.concat([original, separator, body]);
}
