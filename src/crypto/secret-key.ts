/**
 * Symmetric keys for node:crypto, as KeyObjects. Node 24 tells a KeyObject from the bytes of a key
 * with brand checks that throw and catch a TypeError for anything else: a Buffer given as the key of
 * createCipheriv, createDecipheriv or createHmac costs two Errors and their stack traces, about
 * 14 µs per call measured here against 1 µs to make the KeyObject — on the thread that serves every
 * IMAP and SMTP session (8 % of it under a stream of APPENDs, issue 31). Keys kept for a while are
 * made KeyObjects once; a key used once (a message's own key) is made one where it is drawn.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';

export function secretKey(bytes: Uint8Array): KeyObject {
  return createSecretKey(bytes);
}
