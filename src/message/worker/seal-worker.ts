/**
 * Worker-thread entry (piscina): seals one submission or own copy, or opens one stored message, off
 * the main event loop. Keys cross the thread boundary as armored text (in process memory only) and are
 * parsed here; parsed keys are kept per thread, because parsing a key costs more than using it.
 */
import type { TrustFiles } from '../forwarded-author.js';
import type { RawSource } from '../../util/spool-file.js';
import * as openpgp from 'openpgp';
import { open, type ResolveSigner, type RoutingHeader, type Transport, type Verification } from '../../crypto/seal/index.js';
import type { DirectoryEntry } from '../../store/types.js';
import type { X509Credential } from '../../crypto/smime/index.js';
import type { SealFormat } from '../recipient-format.js';
import { sealOwnCopy } from '../seal-own-copy.js';
import { analyseMessage } from '../../imap/mime/structure.js';
import { toCrlf } from '../../util/crlf.js';
import type { MessageMeta } from '../../imap/backend.js';
import { sealSubmission, sealSubmissionFile, type SealedSubmission, type SealedSubmissionFile } from '../seal-submission.js';
import { signalWorkerLoaded } from './worker-loaded.js';

export interface SealTask {
  raw: Uint8Array;
  senderAddress: string;
  senderEntry: DirectoryEntry;
  signingKeyArmored: string;
  /** `format`: which copy the recipient gets; S/MIME recipients travel with their certificate, not a key. */
  recipients: Array<{ address: string; format: SealFormat; publicKeyArmored: string | null; certificatePem: string | null; filingKeyArmored: string | null }>;
  envelopeFrom: string;
  /** The sender's certificate and PKCS#8 key when a recipient reads S/MIME (memory only). */
  signerX509: X509Credential | null;
  /** MSSanté intake facts (seal-submission.ts). */
  transport?: Transport | undefined;
  /** The health PKI's files, for a forwarded message's signature (src/message/forwarded-author.ts). */
  trustFiles?: TrustFiles | undefined;
}

export type SealTaskResult = { ok: true; value: SealedSubmission } | { ok: false; code?: string; message: string; details?: Record<string, unknown> };

/**
 * Bounded cache of parsed keys by armored text: least recently used goes first, and an entry not
 * used for `idleMs` is dropped at the next lookup (an unlocked private key must not outlive its
 * sessions in a worker by more than that).
 */
export class KeyCache<K> {
  private readonly map = new Map<string, { key: Promise<K>; usedAt: number }>();
  constructor(
    private readonly max: number,
    private readonly parse: (armored: string) => Promise<K>,
    private readonly idleMs = Infinity,
    private readonly now: () => number = Date.now,
  ) {}

  get(armored: string): Promise<K> {
    const now = this.now();
    this.sweep(); // ordered by last use: stops at the first fresh entry
    let entry = this.map.get(armored);
    if (entry) this.map.delete(armored);
    else {
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      const key = this.parse(armored);
      key.catch(() => this.map.delete(armored));
      entry = { key, usedAt: now };
    }
    entry.usedAt = now;
    this.map.set(armored, entry);
    return entry.key;
  }

  get size(): number {
    return this.map.size;
  }

  /** Drops entries idle for longer than the limit (also run on a timer: a quiet worker gets no lookups). */
  sweep(): void {
    const now = this.now();
    for (const [k, e] of this.map) {
      if (now - e.usedAt < this.idleMs) break;
      this.map.delete(k);
    }
  }
}

const publicKeys = new KeyCache(2000, (armoredKey) => openpgp.readKey({ armoredKey }));
/**
 * Unlocked keys of the sessions currently sending or reading; few, only ever in this process's
 * memory, and dropped after 10 minutes without use (the login cache's default lifetime).
 */
const signingKeys = new KeyCache(64, (armoredKey) => openpgp.readPrivateKey({ armoredKey }), 10 * 60_000);
setInterval(() => signingKeys.sweep(), 60_000).unref();

function failure(err: unknown): { ok: false; code?: string; message: string; details?: Record<string, unknown> } {
  // Errors are rebuilt on the main thread as MedgateError with the same code and message.
  const e = err as { code?: unknown; message?: string; details?: Record<string, unknown> };
  return { ok: false, code: typeof e.code === 'string' ? e.code : undefined, message: e.message ?? String(err), details: e.details };
}

export default async function sealTask(task: SealTask): Promise<SealTaskResult> {
  try {
    const { signingKey, recipients } = await keysOf(task);
    const value = await sealSubmission({
      raw: Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength),
      senderAddress: task.senderAddress, senderEntry: task.senderEntry, signingKey, recipients, envelopeFrom: task.envelopeFrom,
      signerX509: task.signerX509 ?? undefined, transport: task.transport, trustFiles: task.trustFiles,
    });
    return { ok: true, value };
  } catch (err) {
    return failure(err);
  }
}

/** A large submission: read from its spool file, sealed to `outFile`; only paths cross threads. */
export interface SealFileTask extends Omit<SealTask, 'raw'> {
  rawFile: RawSource;
  outFile: string;
}

export type SealFileTaskResult = { ok: true; value: SealedSubmissionFile } | { ok: false; code?: string; message: string; details?: Record<string, unknown> };

export async function sealFileTask(task: SealFileTask): Promise<SealFileTaskResult> {
  try {
    const { signingKey, recipients } = await keysOf(task);
    const value = await sealSubmissionFile({
      rawFile: task.rawFile, outFile: task.outFile,
      senderAddress: task.senderAddress, senderEntry: task.senderEntry, signingKey, recipients, envelopeFrom: task.envelopeFrom,
      signerX509: task.signerX509 ?? undefined, transport: task.transport, trustFiles: task.trustFiles,
    });
    return { ok: true, value };
  } catch (err) {
    return failure(err);
  }
}

async function keysOf(task: Pick<SealTask, 'signingKeyArmored' | 'recipients'>) {
  const signingKey = await signingKeys.get(task.signingKeyArmored);
  const recipients = await Promise.all(task.recipients.map(async (r) => ({
    address: r.address,
    format: r.format,
    publicKey: r.publicKeyArmored ? await publicKeys.get(r.publicKeyArmored) : undefined,
    certificatePem: r.certificatePem ?? undefined,
    filingKey: r.filingKeyArmored ? await publicKeys.get(r.filingKeyArmored) : undefined,
  })));
  return { signingKey, recipients };
}

export interface OwnCopyTask {
  raw: Uint8Array;
  keyArmored: string;
  owner: string;
  internalDate: string;
  withoutRouting: boolean;
}

export type OwnCopyTaskResult = { ok: true; sealed: Uint8Array } | { ok: false; code?: string; message: string };

/** sealOwnCopy in a worker: a record server's APPEND, an MSSanté transit copy (one signature and one encryption, two with a routing header). */
export async function sealOwnCopyTask(task: OwnCopyTask): Promise<OwnCopyTaskResult> {
  try {
    const key = await signingKeys.get(task.keyArmored);
    const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
    return { ok: true, sealed: await sealOwnCopy(raw, key, task.owner, new Date(task.internalDate), { withoutRouting: task.withoutRouting }) };
  } catch (err) {
    const { code, message } = failure(err);
    return { ok: false, code, message };
  }
}

/**
 * ENVELOPE and BODYSTRUCTURE of an APPENDed own copy (sealed on the main thread under the account
 * key, §5.2), computed here when the main thread is busy: null when the bytes do not parse.
 */
export async function analyseTask(task: { raw: Uint8Array }): Promise<MessageMeta | null> {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  return (await analyseMessage(toCrlf(raw)).catch(() => undefined)) ?? null;
}

export interface OpenTask {
  sealed: Uint8Array;
  /** The reader's unlocked key, armored (memory only). */
  keyArmored: string;
  ownAddress: string;
  /** The signer, resolved on the main thread from the directory by the sealed message's From. */
  signer: { address: string; publicKeyArmored: string; status: 'active' | 'suspended' | 'revoked'; identity?: Record<string, unknown> } | null;
  /** Fingerprint that verified at first opening: pinned, so a later revocation keeps old mail readable. */
  knownFingerprint: string | null;
}

export type OpenTaskResult =
  | { ok: true; raw: Uint8Array; routing: RoutingHeader | null; verification: Verification; ownCopy: boolean }
  | { ok: false; code?: string; message: string; details?: Record<string, unknown> };

/** Decrypts and verifies one stored message for its reader (IMAP FETCH), off the event loop. */
export async function openMessage(task: OpenTask): Promise<OpenTaskResult> {
  try {
    const key = await signingKeys.get(task.keyArmored);
    const signerKey = task.signer ? await publicKeys.get(task.signer.publicKeyArmored) : undefined;
    const ownIds = new Set(key.getKeyIDs().map((k) => k.toHex()));
    let ownCopy = false;
    const resolveSigner: ResolveSigner = async (ref) => {
      const resolved = signerKey && task.signer && ref.address?.toLowerCase() === task.signer.address
        ? { publicKey: signerKey, status: task.signer.status, identity: task.signer.identity }
        : undefined;
      if (resolved && task.knownFingerprint && signerKey!.getFingerprint() === task.knownFingerprint) return { ...resolved, status: 'active' };
      const signedBySigner = !!resolved && ref.keyIds.some((id) => signerKey!.getKeyIDs().some((k) => k.toHex() === id));
      if (!signedBySigner && ref.keyIds.some((id) => ownIds.has(id))) {
        ownCopy = true;
        return { publicKey: key.toPublic(), status: 'active', identity: { address: task.ownAddress } };
      }
      return resolved;
    };
    const res = await open({ sealed: Buffer.from(task.sealed.buffer, task.sealed.byteOffset, task.sealed.byteLength), decryptionKey: key, resolveSigner });
    return { ok: true, raw: res.raw, routing: res.routing, verification: res.verification, ownCopy };
  } catch (err) {
    return failure(err);
  }
}

// Last: the pool waits for this before it may terminate the thread (worker-loaded.ts says why).
signalWorkerLoaded();
