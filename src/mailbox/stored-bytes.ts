/**
 * Sealed bytes are stored under their SHA-256, the blob id (content-addressed: one message stored
 * once). Bytes read back that do not hash to it were changed at rest: damaged, or put there by
 * someone who can write the store (another message of the same signer, which its signature alone
 * would not tell). They are not served as the message (docs/secure-message-format.md §5.3).
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import { inSlices } from '../util/slices.js';

const CONTENT_ADDRESS = /^[0-9a-f]{64}$/;

/** The error a message whose stored bytes were changed at rest is shown with. */
export function alteredAtRest(): CryptoError {
  return new CryptoError(CryptoErrorCode.CIPHERTEXT_TAMPERED, 'The stored bytes are not those this message was stored with: they were changed at rest');
}

/**
 * Whether `sealed` is not what blob `blobId` was stored as (its SHA-256, as the store computes blob
 * ids). Hashed a slice per turn of the event loop: a 25 MB message is 15–20 ms of hashing.
 */
export async function storedBytesAltered(sealed: Uint8Array, blobId: string): Promise<boolean> {
  if (!CONTENT_ADDRESS.test(blobId)) return false;
  const hash = createHash('sha256');
  await inSlices(sealed, (slice) => hash.update(slice));
  return hash.digest('hex') !== blobId;
}

/**
 * `stream` as it is, hashed on the way: it ends with `alteredAtRest()` instead of its end when the
 * bytes do not hash to `blobId` (a reader that holds back its last piece until the end, as a
 * streamed FETCH does, never completes the message then).
 */
export function checkedBlobStream(stream: Readable, blobId: string): Readable {
  if (!CONTENT_ADDRESS.test(blobId)) return stream;
  const hash = createHash('sha256');
  const checked = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      done(hash.digest('hex') === blobId ? null : alteredAtRest());
    },
  });
  stream.on('error', (err) => checked.destroy(err));
  // The reader stopping early (checked destroyed) releases the file or the database cursor too.
  checked.on('close', () => stream.destroy());
  return stream.pipe(checked);
}
