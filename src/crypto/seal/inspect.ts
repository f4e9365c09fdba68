/**
 * inspect(): what anyone on the path sees of a medgate/1 message without any key — the outer
 * header fields and the MIME skeleton. Synchronous and read-only; a diagnostic, never a security
 * decision (open() re-parses with the MIME library and checks everything cryptographically).
 */
import Headers from '@zone-eu/mailsplit/lib/headers.js';
import { splitHeaderBlock } from './header-block.js';
import { firstValue, parseContentType } from './header-values.js';
import { FORMAT_FIELD, ROUTING_FIELD } from './outer-message.js';

export interface Inspection {
  /** Outer header fields as [name, unfolded value], in order. */
  outerHeaders: Array<[string, string]>;
  /** The MIME skeleton: the top content type, then each direct child's content type, indented. */
  structure: string[];
  routingCarrierPresent: boolean;
  alreadyEncrypted: boolean;
}

function describe(header: Buffer): string {
  const ct = parseContentType(header);
  const protocol = ct.params['protocol'];
  return protocol ? `${ct.type}; protocol="${protocol}"` : ct.type;
}

/**
 * Direct children of a multipart body: the header block of each part between boundary delimiter
 * lines (RFC 2046 §5.1.1). One level only, enough to show the RFC 3156 skeleton.
 */
function childHeaders(body: Buffer, boundary: string): Buffer[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const at = body.indexOf(delimiter, pos);
    if (at === -1 || (at > 0 && body[at - 1] !== 0x0a)) break;
    const after = at + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) break; // close delimiter
    const lineEnd = body.indexOf(0x0a, after);
    if (lineEnd === -1) break;
    const next = body.indexOf(delimiter, lineEnd + 1);
    const part = body.subarray(lineEnd + 1, next === -1 ? body.length : next);
    parts.push(splitHeaderBlock(part).header);
    if (next === -1) break;
    pos = next;
  }
  return parts;
}

export function inspect(sealed: Buffer): Inspection {
  const { header, body } = splitHeaderBlock(sealed);
  const outerHeaders = new Headers(header).getList().map(({ line }): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).replace(/\r?\n/g, '').trim()];
  });
  const top = parseContentType(header);
  const structure = [describe(header)];
  const boundary = top.params['boundary'];
  if (top.type.startsWith('multipart/') && boundary) {
    for (const child of childHeaders(body, boundary)) structure.push(`  ${describe(child)}`);
  }
  const format = firstValue(header, FORMAT_FIELD) ?? '';
  return {
    outerHeaders,
    structure,
    routingCarrierPresent: firstValue(header, ROUTING_FIELD) !== undefined,
    alreadyEncrypted: /body=client-encrypted/.test(format),
  };
}
