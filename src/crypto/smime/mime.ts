/** The MIME wrappers of S/MIME (RFC 8551 §3): application/pkcs7-mime entities and multipart/signed parts. */
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { firstValue, parseContentType } from '../seal/header-values.js';
import { splitHeaderBlock } from '../seal/header-block.js';

const CRLF = '\r\n';

/** Base64 in 76-character lines, CRLF-terminated. */
export function base64Lines(der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return (b64.match(/.{1,76}/g) ?? []).join(CRLF) + CRLF;
}

/** The header fields of an application/pkcs7-mime entity (name "smime.p7m", base64). */
export function pkcs7MimeFields(smimeType: 'enveloped-data' | 'signed-data'): string[] {
  return [
    `Content-Type: application/pkcs7-mime; smime-type=${smimeType}; name="smime.p7m"`,
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="smime.p7m"',
  ];
}

/** A complete MIME entity (header fields, blank line, base64 body) of a CMS structure. */
export function pkcs7MimeEntity(smimeType: 'enveloped-data' | 'signed-data', der: Uint8Array): Buffer {
  return Buffer.from(pkcs7MimeFields(smimeType).join(CRLF) + CRLF + CRLF + base64Lines(der), 'latin1');
}

export type SmimeLayer =
  | { kind: 'pkcs7-mime'; der: Uint8Array }
  | { kind: 'multipart-signed'; content: Buffer; signatureDer: Uint8Array }
  | { kind: 'other' };

function malformed(why: string): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `Not a readable S/MIME entity: ${why}`);
}

function decodeBody(header: Buffer, body: Buffer): Uint8Array {
  const cte = (firstValue(header, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'base64') return new Uint8Array(Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
  if (cte === 'binary' || cte === '8bit' || cte === '7bit') return new Uint8Array(body);
  throw malformed(`unsupported Content-Transfer-Encoding ${cte}`);
}

/**
 * The two parts of a multipart/signed body (RFC 1847): the first part byte for byte (the CRLF
 * before each delimiter belongs to the delimiter, RFC 2046 §5.1.1), and the second part.
 */
function signedParts(body: Buffer, boundary: string): [Buffer, Buffer] {
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const starts: number[] = [];
  let pos = 0;
  for (;;) {
    const at = body.indexOf(delim, pos);
    if (at === -1) break;
    if (at === 0 || body[at - 1] === 0x0a) starts.push(at);
    pos = at + delim.length;
  }
  if (starts.length < 3) throw malformed('multipart/signed needs two parts');
  const part = (i: number): Buffer => {
    const lineEnd = body.indexOf(0x0a, starts[i]!);
    const from = lineEnd + 1;
    let to = starts[i + 1]!;
    if (body[to - 1] === 0x0a) to -= body[to - 2] === 0x0d ? 2 : 1;
    return body.subarray(from, to);
  };
  return [part(0), part(1)];
}

/**
 * Whether a header block announces an S/MIME entity (application/pkcs7-mime, or multipart/signed
 * with a CMS signature): enough to route a message to the S/MIME checks before reading its body.
 */
export function isSmimeHeader(entity: Buffer): boolean {
  const ct = parseContentType(splitHeaderBlock(entity).header);
  if (ct.type === 'application/pkcs7-mime' || ct.type === 'application/x-pkcs7-mime') return true;
  const protocol = (ct.params['protocol'] ?? '').toLowerCase();
  return ct.type === 'multipart/signed' && (protocol === 'application/pkcs7-signature' || protocol === 'application/x-pkcs7-signature');
}

/** What kind of S/MIME layer an entity (a whole message or a decrypted part) is. */
export function readSmimeLayer(entity: Buffer): SmimeLayer {
  const { header, body } = splitHeaderBlock(entity);
  const ct = parseContentType(header);
  if (ct.type === 'application/pkcs7-mime' || ct.type === 'application/x-pkcs7-mime') {
    return { kind: 'pkcs7-mime', der: decodeBody(header, body) };
  }
  const protocol = (ct.params['protocol'] ?? '').toLowerCase();
  if (ct.type === 'multipart/signed' && (protocol === 'application/pkcs7-signature' || protocol === 'application/x-pkcs7-signature')) {
    const boundary = ct.params['boundary'];
    if (!boundary) throw malformed('multipart/signed without boundary');
    const [content, sig] = signedParts(body, boundary);
    const sigSplit = splitHeaderBlock(sig);
    return { kind: 'multipart-signed', content, signatureDer: decodeBody(sigSplit.header, sigSplit.body) };
  }
  return { kind: 'other' };
}
