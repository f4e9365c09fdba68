/**
 * The Argon2 of an account key's unwrap (RFC 9580 §3.7.1.4) computed by Node's `crypto.argon2`
 * (OpenSSL) on libuv's thread pool, instead of openpgp.js's WebAssembly copy of the same function.
 *
 * Why (issue 31, memory): openpgp.js runs Argon2 inside the JavaScript thread that asks for it, in a
 * WebAssembly memory of 64 MiB (production cost) that the thread keeps until a full collection,
 * so a login had to run in a sealing thread (a V8 isolate of its own, ~40 MB) and that thread held
 * the 64 MiB long after. OpenSSL allocates the 64 MiB for the derivation and frees it on return; no
 * thread has to start for a login, and the event loop is not blocked.
 *
 * Only the key derivation changes hands: openpgp.js still parses the key, derives the AEAD key
 * from this output with HKDF and authenticates and decrypts the key material, exactly as with its
 * own Argon2 (same parameters read from the key: salt, passes, lanes, memory exponent; Argon2id,
 * version 0x13, as RFC 9580 requires). A wrong passphrase still fails openpgp.js's AEAD check.
 */
import * as nodeCrypto from 'node:crypto';
import os from 'node:os';
import * as openpgp from 'openpgp';

/** The fields openpgp.js's Argon2S2K reads from a key (RFC 9580 §3.7.1.4), and the method it derives with. */
interface Argon2S2K {
  type: 'argon2';
  salt: Uint8Array;
  /** Passes. */
  t: number;
  /** Lanes (parallelism). */
  p: number;
  /** Memory: 2^encodedM KiB. */
  encodedM: number;
  produceKey(passphrase: string, keySize: number): Promise<Uint8Array>;
}

type Argon2Fn = (algorithm: 'argon2id', parameters: { message: Buffer; nonce: Uint8Array; parallelism: number; tagLength: number; memory: number; passes: number }, callback: (err: Error | null, key: Buffer) => void) => void;

/**
 * Node's Argon2 (24.7 and later). Read from the namespace, not imported by name: on an older Node a
 * named import would stop the gateway from starting at all; there openpgp.js's own Argon2 runs, on
 * the calling thread (src/runtime/node-version.ts warns about it at start).
 */
const argon2 = (nodeCrypto as unknown as { argon2?: Argon2Fn }).argon2;

/** Whether this Node has crypto.argon2 (24.7 and later). */
export const NATIVE_ARGON2 = typeof argon2 === 'function';

interface SecretKeyPacketS2K {
  s2k?: { type?: string } | null;
}

/**
 * At most this many derivations at once in the process: each holds 2^encodedM KiB (64 MiB by
 * default) while it runs, and a burst of logins must neither take every libuv thread (the store's
 * fsyncs and WebCrypto use them) nor multiply that memory.
 */
const MAX_CONCURRENT = Math.max(1, Math.min(2, os.availableParallelism()));
let running = 0;
let derivations = 0;
let peak = 0;
const waiting: Array<() => void> = [];

async function limited<T>(work: () => Promise<T>): Promise<T> {
  // A finished derivation hands its slot straight to the next waiter (`running` stays as it is):
  // freeing it first would let a newcomer take it before the waiter resumes, one more than allowed.
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

function derive(s2k: Argon2S2K, passphrase: string, keySize: number): Promise<Uint8Array> {
  // The same bound openpgp.js applies before it allocates: a key cannot make the gateway reserve more.
  if (s2k.encodedM > openpgp.config.maxArgon2MemoryExponent) {
    return Promise.reject(new Error('Argon2 required memory exceeds `config.maxArgon2MemoryExponent`'));
  }
  return limited(() => new Promise<Uint8Array>((resolve, reject) => {
    derivations++;
    peak = Math.max(peak, running);
    argon2!('argon2id', {
      message: Buffer.from(passphrase, 'utf8'),
      nonce: s2k.salt,
      parallelism: s2k.p,
      tagLength: keySize,
      memory: 2 ** s2k.encodedM,
      passes: s2k.t,
    }, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.byteLength))));
  }));
}

/** How many Argon2 derivations this process has run natively (the tests check a login used this path). */
export function nativeArgon2Derivations(): number {
  return derivations;
}

/** The most derivations that ran at once in this process (the tests check the bound). */
export function nativeArgon2PeakConcurrency(): number {
  return peak;
}

function isArgon2(s2k: unknown): s2k is Argon2S2K {
  const s = s2k as Partial<Argon2S2K> | null | undefined;
  return !!s && s.type === 'argon2' && s.salt instanceof Uint8Array && typeof s.t === 'number' && typeof s.p === 'number' && typeof s.encodedM === 'number';
}

/**
 * Decrypts a private key read by openpgp.js, its Argon2 S2Ks derived natively. One derivation at
 * a time for this key (a key has one per packet, primary and subkey): one login holds 64 MiB at
 * most, not one per packet. Keys protected otherwise (iterated S2K) are decrypted by openpgp.js.
 */
export async function decryptKeyNativeArgon2(privateKey: openpgp.PrivateKey, passphrase: string): Promise<openpgp.PrivateKey> {
  if (!NATIVE_ARGON2) return openpgp.decryptKey({ privateKey, passphrase });
  let chain: Promise<unknown> = Promise.resolve();
  for (const key of privateKey.getKeys()) {
    const s2k = (key.keyPacket as unknown as SecretKeyPacketS2K).s2k;
    if (!isArgon2(s2k)) continue;
    // An own property on this packet's S2K object only: openpgp.js's class is not touched.
    s2k.produceKey = (pass: string, keySize: number) => {
      const next = chain.then(() => derive(s2k, pass, keySize));
      chain = next.catch(() => undefined);
      return next;
    };
  }
  return openpgp.decryptKey({ privateKey, passphrase });
}
