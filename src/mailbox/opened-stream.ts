/**
 * Large stored messages opened as a stream (issue 31): what openStored() gives, the verdict prefix
 * and the original with CRLF line ends, but produced while the sealed file is read and decrypted
 * (src/crypto/seal/open-stream.ts), so a FETCH starts sending at once and memory stays flat.
 *
 * The IMAP literal's size must be sent first: it is the size recorded in the message's facts at its
 * first opening (RFC822.SIZE), which for a large message is itself a streamed pass that counts the
 * bytes (`streamFacts`). What is served is checked against it: the last bytes leave only when the
 * count is exact and the message verified (docs/secure-message-format.md §11.1).
 */
import type * as openpgp from 'openpgp';
import { openStream, STREAM_HEAD_BYTES, type StreamOpening } from '../crypto/seal/open-stream.js';
import type { ResolveSigner } from '../crypto/seal/index.js';
import type { MessageSealer } from '../message/sealer.js';
import type { BlobHandle } from '../store/types.js';
import { MedgateError } from '../errors.js';
import { CrlfStream } from '../util/crlf.js';
import { checkedBlobStream } from './stored-bytes.js';
import { neutraliseForgedFields, patientFolderOf, verdictPrefix, type OpenedFacts } from './opened-message.js';

/** Sealed messages above this size are streamed (the size above which they are sealed file to file). */
export const STREAM_MESSAGE_BYTES = 1024 * 1024;

/** Why serving a stream stopped short: the message did not verify, or its bytes are not what the facts say. */
export class StreamAborted extends MedgateError {
  /** `SIZE_MISMATCH`, or `BINARY` (a NUL byte after bare LFs were converted); a failed check keeps its CryptoErrorCode. */
  constructor(code: 'SIZE_MISMATCH' | 'BINARY', message: string) {
    super(code, message);
    this.name = 'StreamAborted';
  }
}

/**
 * The reader's signer lookup, as openStored() does it: the key that verified at the first opening
 * stays valid (a later revocation does not make old mail unreadable); `ownCopy` is set when only the
 * reader's own key signed it (then the caller opens the message whole, as before).
 */
export function readerSigner(sealer: MessageSealer, ownKey: openpgp.PrivateKey, knownFingerprint: string | null): { resolveSigner: ResolveSigner; ownCopy: () => boolean } {
  const ownKeyIds = new Set(ownKey.getKeyIDs().map((k) => k.toHex()));
  let ownCopy = false;
  const resolveSigner: ResolveSigner = async (ref) => {
    const resolved = await sealer.resolveSigner(ref);
    if (resolved && knownFingerprint && resolved.publicKey.getFingerprint() === knownFingerprint) return { ...resolved, status: 'active' };
    if ((!resolved || !ref.keyIds.some((id) => resolved.publicKey.getKeyIDs().some((k) => k.toHex() === id))) && ref.keyIds.some((id) => ownKeyIds.has(id))) {
      ownCopy = true;
      return undefined;
    }
    return resolved;
  };
  return { resolveSigner, ownCopy: () => ownCopy };
}

/** Opens a stored large message for streaming; `NotStreamable` when it must be opened whole. */
export async function openStoredStream(blob: BlobHandle, blobId: string, sealer: MessageSealer, ownKey: openpgp.PrivateKey, resolveSigner: ResolveSigner): Promise<StreamOpening> {
  const head = await blob.head(STREAM_HEAD_BYTES);
  // Hashed as it is read: bytes changed at rest end the stream with an error, before its last piece.
  return openStream({ head, sealed: () => checkedBlobStream(blob.stream(), blobId), decryptionKey: ownKey, resolveSigner });
}

/** The served bytes after the prefix: forged verdict fields renamed in the header, CRLF line ends. */
async function* served(opening: StreamOpening, crlf: CrlfStream): AsyncGenerator<Buffer, void, undefined> {
  let first = true;
  for await (const piece of opening.content) {
    const out = crlf.push(first ? neutraliseForgedFields(piece) : piece);
    first = false;
    if (crlf.diverged) throw new StreamAborted('BINARY', 'the message holds NUL bytes: served unconverted, not as streamed');
    yield out;
  }
}

/**
 * The bytes a FETCH sends: `prefix`, then the message. Exactly `size` bytes or an error, and the
 * last piece only after the opening verified everything and the count matched: one piece is held
 * back so that the literal is never complete before then.
 */
export async function* servedStream(opening: StreamOpening, prefix: string, size: number): AsyncGenerator<Buffer, void, undefined> {
  const crlf = new CrlfStream();
  const source = served(opening, crlf);
  let total = 0;
  let held: Buffer | null = prefix ? Buffer.from(prefix, 'utf8') : null;
  if (held) total = held.length;
  let done = false;
  try {
    for await (const out of source) {
      if (out.length === 0) continue;
      total += out.length;
      if (total > size) throw new StreamAborted('SIZE_MISMATCH', `the message is longer than its recorded size ${size}`);
      if (held) yield held;
      held = out;
    }
    if (total !== size) throw new StreamAborted('SIZE_MISMATCH', `the message is ${total} bytes, its recorded size ${size}`);
    done = true;
    if (held) yield held;
  } finally {
    if (!done) {
      opening.abort();
      await source.return(undefined).catch(() => undefined);
    }
  }
}

/**
 * A large message's first opening: its facts (verdict prefix, served size) from one streamed pass
 * that keeps nothing. Throws what the opening throws (the caller then opens it whole, which gives
 * the exact notice), `StreamAborted('BINARY')` for content with NUL bytes, and returns undefined
 * for the reader's own copies (opened whole, as before).
 */
export async function streamFacts(opening: StreamOpening, ownCopy: () => boolean, view: 'opened' | 'routing'): Promise<OpenedFacts | undefined> {
  const crlf = new CrlfStream();
  let size = 0;
  for await (const out of served(opening, crlf)) size += out.length;
  if (ownCopy() || !opening.verification || view !== 'opened') return undefined;
  const prefix = verdictPrefix(opening.verification, opening.routing);
  return {
    v: 2, prefix, size: Buffer.byteLength(prefix, 'utf8') + size, fingerprint: opening.verification.fingerprint, error: null,
    patientFolder: patientFolderOf(opening.routing),
  };
}
