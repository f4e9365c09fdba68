/**
 * Reading the outer layer of a medgate/1 message: the carrier fields (header block split at the
 * first empty line) and, for sealed bodies, the RFC 3156 parts via mailsplit's MIME splitter.
 */
import { finished } from 'node:stream/promises';
import { Splitter } from '../../mime/splitter.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { findField, splitHeaderBlock, type SplitMessage } from './header-block.js';
import { decodeRadix64 } from './radix64.js';
import { firstValue, parseContentType } from './header-values.js';
import { FORMAT_FIELD, ROUTING_FIELD, type BodyMode } from './outer-message.js';

export interface OuterLayer {
  split: SplitMessage;
  mode: BodyMode;
  /** Binary OpenPGP message of the routing header, when the carrier field is present. */
  routing: Uint8Array | undefined;
}

function malformed(why: string, cause?: unknown): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `Not a medgate/1 message: ${why}`, undefined, cause ? { cause } : undefined);
}

export function readOuterLayer(sealed: Buffer): OuterLayer {
  const split = splitHeaderBlock(sealed);
  if (split.separator.length === 0) throw malformed('no header/body separator');
  const format = firstValue(split.header, FORMAT_FIELD);
  if (format === undefined) throw malformed(`no ${FORMAT_FIELD} field`);
  const m = /^medgate\/1;\s*body=(sealed|client-encrypted|smime)$/.exec(format);
  if (!m) throw malformed(`unsupported ${FORMAT_FIELD} value`);
  const span = findField(split.header, ROUTING_FIELD);
  let routing: Uint8Array | undefined;
  if (span) {
    // Keep the folded lines: each continuation line is one radix-64 line, the last one the checksum.
    const raw = split.header.toString('latin1', span.start, span.valueEnd);
    const lines = raw.slice(raw.indexOf(':') + 1).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    routing = decodeRadix64(lines, 'routing header');
  }
  return { split, mode: m[1] as BodyMode, routing };
}

interface Part {
  contentType: string;
  parent: unknown;
  node: unknown;
  body: Buffer[];
}

/** The armored OpenPGP message of an RFC 3156 multipart/encrypted body. */
export async function armoredPayload(sealed: Buffer): Promise<string> {
  const parts: Part[] = [];
  const splitter = new Splitter();
  splitter.on('data', (chunk) => {
    if (chunk.type === 'node') parts.push({ contentType: chunk.contentType || '', parent: chunk.parentNode, node: chunk, body: [] });
    else if (chunk.type === 'body') parts[parts.length - 1]?.body.push(chunk.value);
  });
  splitter.end(sealed);
  try {
    await finished(splitter);
  } catch (err) {
    throw malformed('MIME structure unreadable', err);
  }
  const [root, ...rest] = parts;
  if (!root) throw malformed('empty message');
  const rootCt = parseContentType(splitHeaderBlock(sealed).header);
  if (rootCt.type !== 'multipart/encrypted' || (rootCt.params['protocol'] ?? '').toLowerCase() !== 'application/pgp-encrypted') {
    throw malformed('body is not multipart/encrypted (RFC 3156)');
  }
  const children = rest.filter((p) => p.parent === root.node);
  if (children.length !== 2 || children[0]?.contentType !== 'application/pgp-encrypted' || children[1]?.contentType !== 'application/octet-stream') {
    throw malformed('multipart/encrypted must hold application/pgp-encrypted then application/octet-stream');
  }
  const control = Buffer.concat(children[0].body).toString('latin1');
  if (!/^\s*Version:\s*1\s*$/m.test(control)) throw malformed('unsupported PGP/MIME version');
  return Buffer.concat(children[1].body).toString('latin1');
}
