import { PkiError, PkiErrorCode } from './errors.js';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

export interface PemBlock {
  /** The label between BEGIN and END, e.g. `CERTIFICATE`, `X509 CRL`, `PRIVATE KEY`. */
  label: string;
  der: Uint8Array;
}

/** Every PEM block in a text (a bundle file may hold several certificates). */
export function splitPemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1] ?? '';
    const body = (match[2] ?? '').replace(/\s+/g, '');
    // Buffer.from(base64) silently skips bad characters; check the alphabet so garbage is refused.
    if (body.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
      throw new PkiError(PkiErrorCode.BadEncoding, `PEM block "${label}" is not valid base64`);
    }
    blocks.push({ label, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return blocks;
}

/**
 * DER bytes of the first PEM block (of the given label, when one is given).
 * Throws PKI_BAD_ENCODING when there is none.
 */
export function pemToDer(pem: string, label?: string): Uint8Array {
  const block = splitPemBlocks(pem).find((b) => label === undefined || b.label === label);
  if (!block) {
    throw new PkiError(PkiErrorCode.BadEncoding, `no PEM block${label ? ` labelled "${label}"` : ''} found`);
  }
  return block.der;
}

/** PEM text with 64-character lines, as OpenSSL writes it. */
export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const base64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
