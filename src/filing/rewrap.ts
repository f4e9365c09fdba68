/**
 * Re-addressing a sealed medgate/1 message to another key without touching its content: the
 * session key of each OpenPGP message (content and routing header) is unwrapped with the record
 * server's key and wrapped again for the new recipient; the encrypted content packet (SEIPD) is
 * kept byte for byte. Nothing is decrypted beyond the session keys, so the sender's signature —
 * inside the content packet — stays valid and nothing clear is ever written.
 */
import * as openpgp from 'openpgp';
import { findField } from '../crypto/seal/header-block.js';
import { routingFieldLine } from '../crypto/seal/outer-message.js';
import { armorMessage, dearmorMessage } from '../crypto/seal/radix64.js';
import { armoredPayload, readOuterLayer } from '../crypto/seal/sealed-message.js';
import { FilingError } from './errors.js';

/** Error codes of re-wrapping (the filing module's FilingError class). */
export const RewrapErrorCode = {
  /** The body was encrypted by the sender's own client (or is not medgate/1 sealed): medgate holds no session key for it. */
  UNSUPPORTED: 'FILING_REWRAP_UNSUPPORTED',
  /** The record server's key does not open the message's session key. */
  KEY_MISMATCH: 'FILING_REWRAP_KEY_MISMATCH',
  /** The OpenPGP packet layout is not the expected session-key packets + one encrypted data packet. */
  MALFORMED: 'FILING_REWRAP_MALFORMED',
} as const;

const TAG_PKESK = 1;
const TAG_SKESK = 3;
const TAG_SEIPD = 18;
const TAG_AEAD = 20;

interface PacketHeader {
  tag: number;
  /** Offset of the next packet, or -1 for an indeterminate/partial length (only data packets use those). */
  next: number;
}

/** Reads one OpenPGP packet header (RFC 9580 §4.2: new and legacy formats). */
function packetAt(bytes: Uint8Array, at: number): PacketHeader {
  const first = bytes[at];
  if (first === undefined || (first & 0x80) === 0) throw malformed('not an OpenPGP packet');
  if (first & 0x40) {
    const tag = first & 0x3f;
    const l0 = bytes[at + 1];
    if (l0 === undefined) throw malformed('truncated packet header');
    if (l0 < 192) return { tag, next: at + 2 + l0 };
    if (l0 < 224) return { tag, next: at + 3 + ((l0 - 192) << 8) + (bytes[at + 2] ?? 0) + 192 };
    if (l0 === 255) return { tag, next: at + 6 + new DataView(bytes.buffer, bytes.byteOffset + at + 2, 4).getUint32(0) };
    return { tag, next: -1 };
  }
  const tag = (first >> 2) & 0x0f;
  const type = first & 0x03;
  if (type === 3) return { tag, next: -1 };
  const n = 1 << type;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + (bytes[at + 1 + i] ?? 0);
  return { tag, next: at + 1 + n + len };
}

function malformed(why: string): FilingError {
  return new FilingError(RewrapErrorCode.MALFORMED, `The sealed message cannot be re-addressed: ${why}`);
}

/**
 * Splits a binary OpenPGP message into its leading session-key packets and the rest (the encrypted
 * data packet), which must start right after them.
 */
export function splitSessionKeyPackets(bytes: Uint8Array): { keyPackets: Uint8Array; encrypted: Uint8Array } {
  let at = 0;
  for (;;) {
    const p = packetAt(bytes, at);
    if (p.tag === TAG_PKESK || p.tag === TAG_SKESK) {
      if (p.next < 0 || p.next > bytes.length) throw malformed('damaged session-key packet');
      at = p.next;
      continue;
    }
    if (p.tag !== TAG_SEIPD && p.tag !== TAG_AEAD) throw malformed(`unexpected packet type ${p.tag} after the session keys`);
    if (at === 0) throw malformed('no session-key packet');
    return { keyPackets: bytes.subarray(0, at), encrypted: bytes.subarray(at) };
  }
}

/**
 * Re-wraps one binary OpenPGP message: unwraps its session key with `decryptionKey` and returns
 * [new PKESK packets for `recipients`] + the original encrypted data packet, unchanged.
 */
export async function rewrapOpenPgp(binary: Uint8Array, decryptionKey: openpgp.PrivateKey, recipients: openpgp.PublicKey[]): Promise<Uint8Array> {
  const { encrypted } = splitSessionKeyPackets(binary);
  const message = await openpgp.readMessage({ binaryMessage: binary });
  let keys: Awaited<ReturnType<typeof openpgp.decryptSessionKeys>>;
  try {
    keys = await openpgp.decryptSessionKeys({ message, decryptionKeys: decryptionKey });
  } catch (cause) {
    throw new FilingError(RewrapErrorCode.KEY_MISMATCH, 'The record server\'s key does not open this sealed message', undefined, { cause });
  }
  const key = keys[0];
  if (!key?.algorithm) throw malformed('no usable session key (SEIPD v2 messages are not supported)');
  const pkesk = await openpgp.encryptSessionKey({ data: key.data, algorithm: key.algorithm, encryptionKeys: recipients, format: 'binary' });
  const out = new Uint8Array(pkesk.length + encrypted.length);
  out.set(pkesk, 0);
  out.set(encrypted, pkesk.length);
  return out;
}

export interface RewrappedMessage {
  sealed: Buffer;
  /** The encrypted content packet, identical in the original and the re-wrapped message. */
  contentPacket: Uint8Array;
}

/**
 * Re-addresses a sealed medgate/1 message (`body=sealed`) to `recipients`: the content's and the
 * routing header's session keys are re-wrapped; every other byte (outer fields, MIME structure,
 * encrypted packets) is kept.
 */
export async function rewrapSealed(sealed: Buffer, decryptionKey: openpgp.PrivateKey, recipients: openpgp.PublicKey[]): Promise<RewrappedMessage> {
  let outer: ReturnType<typeof readOuterLayer>;
  try {
    outer = readOuterLayer(sealed);
  } catch (cause) {
    throw new FilingError(RewrapErrorCode.UNSUPPORTED, 'The stored item is not a medgate/1 message', undefined, { cause });
  }
  if (outer.mode !== 'sealed') {
    throw new FilingError(RewrapErrorCode.UNSUPPORTED, 'The item was encrypted by the sender\'s own client: medgate cannot re-address it');
  }
  const { header, separator, body } = outer.split;
  const content = dearmorMessage(await armoredPayload(sealed), 'message');
  const newContent = await rewrapOpenPgp(content, decryptionKey, recipients);

  // The armored block is the only "BEGIN PGP MESSAGE" in the body (the routing header lives in the header block).
  const text = body.toString('latin1');
  const begin = text.indexOf('-----BEGIN PGP MESSAGE-----');
  const endMark = '-----END PGP MESSAGE-----';
  const end = text.indexOf(endMark, begin);
  if (begin < 0 || end < 0 || text.indexOf('-----BEGIN PGP MESSAGE-----', begin + 1) >= 0) throw malformed('armored block not found once');
  const block = text.slice(begin, end + endMark.length);
  if (!Buffer.from(dearmorMessage(block, 'message')).equals(Buffer.from(content))) throw malformed('armored block differs from the MIME part');
  const newBody = Buffer.from(text.slice(0, begin) + armorMessage(newContent) + text.slice(end + endMark.length), 'latin1');

  let newHeader = header;
  if (outer.routing) {
    const span = findField(header, 'X-Medgate-Routing');
    if (!span) throw malformed('routing header field not found');
    const newRouting = await rewrapOpenPgp(outer.routing, decryptionKey, recipients);
    const eol = header.subarray(span.valueEnd, span.end);
    newHeader = Buffer.concat([header.subarray(0, span.start), Buffer.from(routingFieldLine(newRouting), 'latin1'), eol, header.subarray(span.end)]);
  }
  return { sealed: Buffer.concat([newHeader, separator, newBody]), contentPacket: splitSessionKeyPackets(content).encrypted };
}

/** The encrypted content packet of a sealed message (for checking that a re-wrap kept it). */
export async function contentPacketOf(sealed: Buffer): Promise<Uint8Array> {
  return splitSessionKeyPackets(dearmorMessage(await armoredPayload(sealed), 'message')).encrypted;
}

