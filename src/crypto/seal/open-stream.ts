/**
 * openStream(): open() for a large stored medgate/1 message, as a stream (issue 31, §11.1 of
 * docs/secure-message-format.md). The routing header (a few KB, in the outer header) is decrypted
 * and verified first; the content is then dearmored, decrypted and handed out piece by piece, in
 * memory that does not grow with the message.
 *
 * SEIPD v1 (what v4 keys get, §4) authenticates the whole packet only at its end (the MDC), and the
 * signature and the content digest can only be checked once every byte went through. So pieces are
 * released before the message is authenticated, with one rule the caller builds on: **the last
 * piece is held back until the CRC-24, the MDC, the signature and the routing header's content
 * digest have all been checked**. A failure after that point makes the iteration throw instead of
 * giving the last piece: a consumer that writes an IMAP literal of a known size therefore never
 * completes it with unauthenticated bytes.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { MedgateError } from '../../errors.js';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { splitHeaderBlock } from './header-block.js';
import { parseContentType, signerAddressOf } from './header-values.js';
import { restoreOriginal } from './inner-entity.js';
import { verifiedRouting } from './open.js';
import type { ResolveSigner, ResolvedSigner, Verification } from './pgp.js';
import { BEGIN, CRC24_INIT, crc24Update, crcValueText, END, withoutLineEnd } from './radix64.js';
import type { RoutingHeader } from './routing-header.js';
import { readOuterLayer } from './sealed-message.js';
import { noteStreamed } from '../../runtime/streamed-garbage.js';

/** The outer header, the routing carrier and the PGP/MIME preamble fit in this (the carrier is ~2 KB). */
export const STREAM_HEAD_BYTES = 64 * 1024;
/** Inner header blocks are bounded to 1 MiB at submission, plus medgate's few added lines. */
const INNER_HEAD_LIMIT = 1024 * 1024 + 64 * 1024;

/**
 * Armor lines are 64 to 76 characters, armor headers a few dozen: a longer "line" is damage, and
 * waiting for its end would hold (and re-split) the whole rest of the message.
 */
const MAX_ARMOR_LINE = 4096;

/** Not a message this reader streams (client-encrypted, S/MIME, no routing header, odd layout): open it whole. */
export class NotStreamable extends MedgateError {
  constructor(why: string) {
    super('MESSAGE_NOT_STREAMABLE', `The message is opened whole, not as a stream: ${why}`);
    this.name = 'NotStreamable';
  }
}

export interface StreamOpenOptions {
  /** The first STREAM_HEAD_BYTES of the sealed message (or all of it). */
  head: Buffer;
  /** A fresh stream of the whole sealed message. */
  sealed: () => Readable;
  decryptionKey: openpgp.PrivateKey;
  resolveSigner: ResolveSigner;
}

export interface StreamOpening {
  routing: RoutingHeader;
  /** The routing header's verification (known before any content byte). */
  routingVerification: Verification;
  /** The original message's bytes (§4's additions undone); the last piece only once everything verified. */
  content: AsyncGenerator<Buffer, void, undefined>;
  /** The content's verification, set when `content` has ended without error. */
  verification: Verification | undefined;
  /** Stops reading (the consumer went away before the end): the file and the decryption are released. */
  abort(): void;
}

function malformed(why: string): CryptoError {
  return new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, `The message is damaged: ${why}`);
}

/** Where the armored payload starts, after checking the RFC 3156 preamble that precedes it. */
function armorStart(head: Buffer, bodyStart: number, boundary: string): number {
  const text = head.toString('latin1', bodyStart);
  const begin = text.indexOf(`\n${BEGIN}`);
  if (begin < 0) throw new NotStreamable('armor not in the first bytes');
  const preamble = text.slice(0, begin);
  const control = preamble.indexOf(`--${boundary}`);
  const octets = preamble.indexOf(`--${boundary}`, control + 1);
  if (control < 0 || octets < 0 ||
      !/^Content-Type:\s*application\/pgp-encrypted/im.test(preamble.slice(control, octets)) ||
      !/^\s*Version:\s*1\s*$/m.test(preamble.slice(control, octets)) ||
      !/^Content-Type:\s*application\/octet-stream/im.test(preamble.slice(octets))) {
    throw malformed('multipart/encrypted must hold application/pgp-encrypted then application/octet-stream');
  }
  return bodyStart + begin + 1;
}

/**
 * Strict streamed dearmor (as dearmorMessage): BEGIN line, armor headers, base64 lines, the CRC-24
 * line checked, END line, then the closing MIME boundary. Throws MALFORMED_STRUCTURE.
 */
async function* dearmor(source: AsyncIterable<Buffer>, boundary: string): AsyncGenerator<Uint8Array> {
  let phase: 'begin' | 'headers' | 'body' | 'after' = 'begin';
  let carry = '';
  let b64 = '';
  let crc = CRC24_INIT;
  let expected: string | undefined;
  let after = '';
  const decode = (text: string): Buffer => {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.toString('base64') !== text && !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw malformed('invalid base64');
    crc = crc24Update(crc, decoded);
    return decoded;
  };
  for await (const chunk of source) {
    if (phase === 'after') { after += chunk.toString('latin1'); if (after.length > 4096) throw malformed('data after the armored message'); continue; }
    const lines = (carry + chunk.toString('latin1')).split('\n');
    carry = lines.pop()!;
    if (carry.length > MAX_ARMOR_LINE || lines.some((l) => l.length > MAX_ARMOR_LINE)) throw malformed('armor line too long');
    const out: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = withoutLineEnd(lines[i]!);
      if (phase === 'body') {
        if (line === END) { phase = 'after'; after = lines.slice(i + 1).join('\n') + '\n' + carry; carry = ''; break; }
        if (/^=[A-Za-z0-9+/]{4}$/.test(line)) { expected = line.slice(1); continue; }
        if (expected !== undefined || line === '') throw malformed('armor lines altered');
        out.push(line);
      } else if (phase === 'headers') {
        if (line === '') phase = 'body';
        else if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(line)) throw malformed('invalid armor header');
      } else if (phase === 'begin') {
        if (line !== BEGIN) throw malformed('armor lines missing or altered');
        phase = 'headers';
      }
    }
    if (out.length) {
      const text = b64 + out.join('');
      const whole = text.length - (text.length % 4);
      b64 = text.slice(whole);
      if (whole > 0) yield decode(text.slice(0, whole));
    }
  }
  if (phase !== 'after') throw malformed('armor lines missing or altered');
  if (b64.length) throw malformed('invalid base64');
  if (expected !== undefined && crcValueText(crc) !== expected) throw malformed('checksum mismatch');
  if (!after.trim().startsWith(`--${boundary}--`)) throw malformed('multipart/encrypted not closed after the armored message');
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function tampered(cause: unknown): CryptoError {
  if (cause instanceof CryptoError) return cause;
  return new CryptoError(CryptoErrorCode.CIPHERTEXT_TAMPERED, 'The message could not be decrypted: it was altered or damaged', undefined, { cause });
}

export async function openStream(opts: StreamOpenOptions): Promise<StreamOpening> {
  const split = splitHeaderBlock(opts.head);
  if (split.separator.length === 0) throw new NotStreamable('outer header block longer than the head read');
  const outer = readOuterLayer(Buffer.concat([split.header, split.separator]));
  if (outer.mode !== 'sealed') throw new NotStreamable(`body=${outer.mode}`);
  if (!outer.routing) throw new NotStreamable('no routing header');
  const ct = parseContentType(split.header);
  const boundary = ct.params['boundary'];
  if (ct.type !== 'multipart/encrypted' || (ct.params['protocol'] ?? '').toLowerCase() !== 'application/pgp-encrypted' || !boundary) {
    throw malformed('body is not multipart/encrypted (RFC 3156)');
  }
  const start = armorStart(opts.head, split.header.length + split.separator.length, boundary);

  // 1. The routing header, verified before any content byte: its signer's key is the key the
  //    content must be signed with, and its digest what the content must hash to.
  let routingSigner: ResolvedSigner | undefined;
  const capture: ResolveSigner = async (ref) => (routingSigner = await opts.resolveSigner(ref));
  const routing = await verifiedRouting(outer.routing, opts.decryptionKey, capture);
  const signerKey = routingSigner!.publicKey;

  // 2. The content: dearmored and decrypted as it is read.
  const source = opts.sealed();
  async function* fromArmor(): AsyncGenerator<Buffer> {
    let skip = start;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      noteStreamed(chunk.length); // the dead chunks of the read, dearmor and decryption freed as it streams
      if (skip >= chunk.length) { skip -= chunk.length; continue; }
      yield skip > 0 ? chunk.subarray(skip) : chunk;
      skip = 0;
    }
  }
  const binary = ReadableStream.from(dearmor(fromArmor(), boundary));
  let message: openpgp.Message<ReadableStream<Uint8Array>>;
  try {
    message = await openpgp.readMessage({ binaryMessage: binary });
  } catch (cause) {
    source.destroy();
    if (cause instanceof CryptoError) throw cause;
    throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'The message is not a readable OpenPGP message', undefined, { cause });
  }
  const mine = new Set(opts.decryptionKey.getKeys().map((k) => k.getKeyID().toHex()));
  if (!message.getEncryptionKeyIDs().some((id) => mine.has(id.toHex()) || id.toHex() === '0000000000000000')) {
    source.destroy();
    throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, 'The message is not encrypted to this key', { key: opts.decryptionKey.getFingerprint() });
  }
  let decrypted: Awaited<ReturnType<typeof openpgp.decrypt<ReadableStream<Uint8Array>>>>;
  try {
    decrypted = await openpgp.decrypt({
      message, decryptionKeys: opts.decryptionKey, verificationKeys: [signerKey], format: 'binary',
      // SEIPD v1 is authenticated at its end only: the pieces are released unauthenticated, and
      // the last one held back (below) until the MDC, signature and digest have been checked.
      config: { allowUnauthenticatedStream: true },
    });
  } catch (cause) {
    source.destroy();
    throw tampered(cause);
  }
  const reader = (decrypted.data as ReadableStream<Uint8Array>).getReader();
  const abort = (): void => {
    reader.cancel().catch(() => undefined);
    source.destroy();
  };
  const opening: StreamOpening = { routing: routing.routing, routingVerification: routing.verification, content: undefined as never, verification: undefined, abort };

  async function* content(): AsyncGenerator<Buffer, void, undefined> {
    const digest = createHash('sha256');
    let headParts: Buffer[] | null = [];
    let headBytes = 0;
    let bodyAllowed = true;
    let held: Buffer | null = null;
    let address: string | undefined;
    let finished = false;
    try {
      for (;;) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (cause) {
          throw tampered(cause);
        }
        if (r.done) break;
        let piece = asBuffer(r.value);
        if (piece.length === 0) continue;
        digest.update(piece);
        if (headParts) {
          headParts.push(piece);
          headBytes += piece.length;
          const all = Buffer.concat(headParts);
          const s = splitHeaderBlock(all);
          if (s.separator.length === 0) {
            headParts = [all];
            if (headBytes > INNER_HEAD_LIMIT) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'Decrypted payload is not a medgate/1 inner entity: header block too long');
            continue;
          }
          headParts = null;
          const ref = signerAddressOf(s.header);
          address = ref?.address;
          await checkSigner(ref, decrypted.signatures.map((sig) => sig.keyID.toHex()));
          bodyAllowed = !/^X-Medgate-Inner: v=1;[^\r\n]*; sep=0;/m.test(s.header.toString('latin1'));
          const restored = restoreOriginal(Buffer.concat([s.header, s.separator]));
          if (s.body.length && !bodyAllowed) throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'Decrypted payload is not a medgate/1 inner entity: body present although none was recorded');
          piece = s.body.length ? Buffer.concat([restored, s.body]) : restored;
        } else if (!bodyAllowed) {
          throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'Decrypted payload is not a medgate/1 inner entity: body present although none was recorded');
        }
        if (held) yield held;
        held = piece;
      }
      if (headParts) {
        // A payload smaller than one piece, or without a header/body separator: as open() does.
        const inner = Buffer.concat(headParts);
        const ref = signerAddressOf(splitHeaderBlock(inner).header);
        address = ref?.address;
        await checkSigner(ref, decrypted.signatures.map((sig) => sig.keyID.toHex()));
        held = restoreOriginal(inner);
      }
      // 3. Everything checked before the last piece leaves.
      let ok = false;
      for (const sig of decrypted.signatures) {
        try {
          if (await sig.verified) ok = true;
        } catch {
          // not made by the signer's key, or does not verify
        }
      }
      if (!ok) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, 'The signature of the message does not verify with the signer\'s key', { signer: address, expectedKey: signerKey.getFingerprint() });
      if (digest.digest('hex') !== routing.routing.contentDigest) {
        throw new CryptoError(CryptoErrorCode.ROUTING_CONTENT_MISMATCH, 'The routing header belongs to another message (content digest differs)');
      }
      opening.verification = { valid: true, signer: address ?? routing.verification.signer, fingerprint: signerKey.getFingerprint(), ...(contentIdentity !== undefined ? { identity: contentIdentity } : {}) };
      finished = true;
      if (held) yield held;
    } finally {
      if (!finished) abort();
    }
  }

  let contentIdentity: Record<string, unknown> | undefined;
  /** open()'s step 4 for the content, and its binding to the routing header's signer (step 5). */
  async function checkSigner(ref: { address: string; onBehalfOf?: string } | undefined, keyIds: string[]): Promise<void> {
    if (keyIds.length === 0) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, 'The message is not signed');
    const resolved = await opts.resolveSigner(ref === undefined ? { keyIds } : { ...ref, keyIds });
    const details = { signer: ref?.address, keyIds };
    if (!resolved) throw new CryptoError(CryptoErrorCode.SIGNER_UNKNOWN, 'The signer of the message is not in the directory', details);
    if (resolved.status !== 'active') throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, `The signer of the message is ${resolved.status}`, { ...details, status: resolved.status });
    if (await resolved.publicKey.isRevoked()) throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, 'The signer\'s key of the message is revoked', { ...details, status: 'revoked' });
    if (resolved.publicKey.getFingerprint() !== signerKey.getFingerprint()) {
      throw new CryptoError(CryptoErrorCode.ROUTING_CONTENT_MISMATCH, 'The routing header and the content were signed by different keys', {
        contentSigner: resolved.publicKey.getFingerprint(), routingSigner: signerKey.getFingerprint(),
      });
    }
    contentIdentity = resolved.identity;
  }

  opening.content = content();
  return opening;
}
