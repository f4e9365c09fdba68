import os from 'node:os';
import * as openpgp from 'openpgp';
import { Piscina } from 'piscina';
import { MedgateError } from '../../errors.js';
import type { MessageMeta } from '../../imap/backend.js';
import type { SealedSubmission, SealedSubmissionFile, SubmissionFileToSeal, SubmissionToSeal } from '../seal-submission.js';
import { loadedWorkerOf, SEAL_POOL_WORKER_DATA } from './worker-loaded.js';
import type { OpenTask, OpenTaskResult, OwnCopyTask, OwnCopyTaskResult, SealFileTask, SealFileTaskResult, SealTask, SealTaskResult } from './seal-worker.js';

/** How long close() waits for threads still loading their module before it terminates them anyway. */
const CLOSE_LOAD_WAIT_MS = 10_000;

/** Young-generation ceiling of each sealing worker (three semi-spaces of 32 MB). */
export const SEAL_WORKER_YOUNG_GENERATION_MB = 96;

/**
 * How many sealing threads, sized to the machine and to the load (issue 31): each thread is a V8
 * isolate with openpgp.js loaded (~40 MB of RSS at rest, more once it has sealed). So threads start
 * when work arrives (up to one per core) and end after `idleTimeoutMs` without work. (A LOGIN's
 * Argon2 needs no thread: src/crypto/native-argon2.ts.)
 * `minThreads` = `maxThreads` keeps a fixed pool, warm from the start (the previous behaviour).
 */
export interface SealPoolSize {
  /** Threads kept while idle. Default 0: an idle gateway holds no sealing isolate. */
  minThreads: number;
  /** Threads at most. Default os.availableParallelism(): crypto uses every core under load. */
  maxThreads: number;
  /** An idle thread above `minThreads` ends after this long. */
  idleTimeoutMs: number;
}

export const DEFAULT_SEAL_POOL_IDLE_MS = 30_000;

export function sealPoolSize(size: number | Partial<SealPoolSize> = {}): SealPoolSize {
  if (typeof size === 'number') return { minThreads: size, maxThreads: size, idleTimeoutMs: DEFAULT_SEAL_POOL_IDLE_MS };
  const maxThreads = Math.max(1, size.maxThreads ?? os.availableParallelism());
  return { minThreads: Math.min(maxThreads, Math.max(0, size.minThreads ?? 0)), maxThreads, idleTimeoutMs: size.idleTimeoutMs ?? DEFAULT_SEAL_POOL_IDLE_MS };
}

/**
 * A pool of worker threads that seal submissions and own copies and open stored messages, so crypto uses
 * every core and the event loop stays free for SMTP/IMAP connections.
 */
export class SealPool {
  private pool: Piscina;
  /** Tasks handed to the pool and not yet answered (the idle backstop below). */
  private inFlight = 0;
  private sweep: NodeJS.Timeout | undefined;
  private closed = false;
  /** Pools swapped out by the idle backstop, still closing. */
  private readonly retiring = new Set<Promise<void>>();
  /**
   * Armored text of the key objects the main thread hands over: the sealer and the sessions reuse
   * the same parsed keys, so each is armored once, not once per message (weak: no key outlives
   * its session because of this cache).
   */
  private readonly armored = new WeakMap<openpgp.Key, string>();
  /** Threads whose module has loaded (worker-loaded.ts: a thread must not be terminated before). */
  private readonly loaded = new Set<number>();
  readonly size: SealPoolSize;

  /** A number: that many threads, fixed. Otherwise sized by `sealPoolSize` (0 when idle, up to one per core). */
  constructor(size: number | Partial<SealPoolSize> = {}) {
    this.size = sealPoolSize(size);
    this.pool = this.newPiscina();
  }

  private newPiscina(): Piscina {
    const pool = new Piscina({
      workerData: SEAL_POOL_WORKER_DATA,
      // From dist the worker is .js; run from source (tsx: benches) it is .ts and the loader is inherited.
      filename: new URL(import.meta.url.endsWith('.ts') ? './seal-worker.ts' : './seal-worker.js', import.meta.url).href,
      minThreads: this.size.minThreads,
      maxThreads: this.size.maxThreads,
      idleTimeout: this.size.idleTimeoutMs,
      // A larger young generation (V8 sizes it up to 3 × 16 MB semi-spaces by default; here 3 × 32):
      // a seal allocates a few MB of short-lived strings and buffers, and with more room fewer of
      // them survive a scavenge to be copied. bench/smtp.bench.ts: gateway A's CPU per message
      // (docs/operations.md, "Speed targets").
      resourceLimits: { maxYoungGenerationSizeMb: SEAL_WORKER_YOUNG_GENERATION_MB },
    });
    pool.on('message', (message: unknown) => {
      const id = loadedWorkerOf(message);
      if (id !== undefined) this.loaded.add(id);
    });
    pool.on('workerDestroy', (worker: { id: number }) => this.loaded.delete(worker.id));
    return pool;
  }

  /** V8 heap of each sealing thread now (issue 31: memory by thread, /metrics). */
  async heapStatistics(): Promise<Array<{ threadId: number; used: number; total: number; external: number; malloced: number }>> {
    const threads = this.pool.threads.filter((t) => this.loaded.has(t.threadId));
    const stats = await Promise.all(threads.map((t) => t.getHeapStatistics().then((h) => ({ threadId: t.threadId, h }), () => undefined)));
    return stats.filter((s) => s !== undefined).map(({ threadId, h }) => ({
      threadId, used: h.used_heap_size, total: h.total_heap_size, external: h.external_memory, malloced: h.malloced_memory,
    }));
  }

  /** Sealing threads running now (they come and go with the load). */
  get threads(): number {
    return this.pool.threads.length;
  }

  private armor(key: openpgp.Key): string {
    let text = this.armored.get(key);
    if (text === undefined) {
      text = key.armor();
      this.armored.set(key, text);
    }
    return text;
  }

  private keysOf(req: Omit<SubmissionToSeal, 'raw'>): Omit<SealTask, 'raw'> {
    return {
      senderAddress: req.senderAddress,
      senderEntry: req.senderEntry,
      signingKeyArmored: this.armor(req.signingKey),
      recipients: req.recipients.map((r) => ({
        address: r.address, format: r.format, publicKeyArmored: r.publicKey ? this.armor(r.publicKey) : null,
        certificatePem: r.certificatePem ?? null, filingKeyArmored: r.filingKey ? this.armor(r.filingKey) : null,
      })),
      envelopeFrom: req.envelopeFrom,
      signerX509: req.signerX509 ?? null,
      ...(req.transport ? { transport: req.transport } : {}),
      ...(req.trustFiles ? { trustFiles: req.trustFiles } : {}),
    };
  }

  async seal(req: SubmissionToSeal): Promise<SealedSubmission> {
    const task: SealTask = { raw: req.raw, ...this.keysOf(req) };
    const res = unwrapResult((await this.run(task)) as SealTaskResult);
    return { ...res, sealed: asBuffer(res.sealed), ...(res.smime ? { smime: { ...res.smime, sealed: asBuffer(res.smime.sealed) } } : {}) };
  }

  /** Seals a spooled message file to `outFile` in a worker: only paths and keys cross threads. */
  async sealFile(req: SubmissionFileToSeal): Promise<SealedSubmissionFile> {
    const task: SealFileTask = { rawFile: req.rawFile, outFile: req.outFile, ...this.keysOf(req) };
    const res = unwrapResult((await this.run(task, { name: 'sealFileTask' })) as SealFileTaskResult);
    return res.smime ? { ...res, smime: { ...res.smime, sealed: asBuffer(res.smime.sealed) } } : res;
  }

  /** Seals a user's own copy (IMAP APPEND) in a worker. */
  async sealOwnCopy(raw: Buffer, key: openpgp.PrivateKey, owner: string, internalDate: Date, options: { withoutRouting?: boolean } = {}): Promise<Buffer> {
    const moved = movableCopy(raw);
    const task: OwnCopyTask = { raw: moved, keyArmored: this.armor(key), owner, internalDate: internalDate.toISOString(), withoutRouting: options.withoutRouting ?? false };
    const res = (await this.run(task, { name: 'sealOwnCopyTask', transferList: [moved.buffer] })) as OwnCopyTaskResult;
    if (!res.ok) {
      if (res.code) throw new MedgateError(res.code, res.message);
      throw new Error(res.message);
    }
    return asBuffer(res.sealed);
  }

  /** ENVELOPE and BODYSTRUCTURE of an APPENDed message, parsed in a worker (analyseTask). */
  async analyse(raw: Buffer): Promise<MessageMeta | undefined> {
    const moved = movableCopy(raw);
    return ((await this.run({ raw: moved }, { name: 'analyseTask', transferList: [moved.buffer] })) as MessageMeta | null) ?? undefined;
  }

  /**
   * Opens a stored message in a worker. The signer is resolved beforehand (by the sealed message's
   * From); `ok: false` carries the typed error code so the caller decides (placeholder or retry).
   */
  async open(task: {
    sealed: Buffer; key: openpgp.PrivateKey; ownAddress: string; knownFingerprint: string | null;
    signer: { address: string; publicKey: openpgp.PublicKey; status: 'active' | 'suspended' | 'revoked'; identity?: Record<string, unknown> } | null;
  }): Promise<OpenTaskResult> {
    const job: OpenTask = {
      sealed: task.sealed, keyArmored: this.armor(task.key), ownAddress: task.ownAddress, knownFingerprint: task.knownFingerprint,
      signer: task.signer ? { address: task.signer.address, publicKeyArmored: this.armor(task.signer.publicKey), status: task.signer.status, identity: task.signer.identity } : null,
    };
    const res = (await this.run(job, { name: 'openMessage' })) as OpenTaskResult;
    return res.ok ? { ...res, raw: asBuffer(res.raw) } : res;
  }

  /** Every task goes through here: the count of tasks in flight drives the idle backstop. */
  private async run(task: unknown, options?: { name: string; transferList?: ArrayBuffer[] }): Promise<unknown> {
    if (this.sweep) {
      clearTimeout(this.sweep);
      this.sweep = undefined;
    }
    this.inFlight++;
    try {
      return await (options ? this.pool.run(task, options) : this.pool.run(task));
    } finally {
      if (--this.inFlight === 0) this.armSweep();
    }
  }

  /**
   * Backstop for piscina 5: now and then an idle thread never gets its idle timer and stays for
   * good (seen here in 1 round of 4 with 6 tasks on 2 threads: one thread, ~40 MB, kept after the
   * others ended). When the pool has had no work for twice its idle timeout and still holds more
   * threads than `minThreads`, it is swapped for a fresh one and the old one is closed.
   */
  private armSweep(): void {
    if (this.closed || this.size.minThreads >= this.size.maxThreads) return;
    this.sweep = setTimeout(() => {
      this.sweep = undefined;
      if (this.closed || this.inFlight !== 0 || this.pool.threads.length <= this.size.minThreads) return;
      const old = this.pool;
      this.pool = this.newPiscina();
      const closing = this.closePool(old).catch(() => undefined).finally(() => this.retiring.delete(closing));
      this.retiring.add(closing);
    }, this.size.idleTimeoutMs * 2);
    this.sweep.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweep) clearTimeout(this.sweep);
    await Promise.all([this.closePool(this.pool), ...this.retiring]);
  }

  private async closePool(pool: Piscina): Promise<void> {
    // Not while a thread still loads its module (worker-loaded.ts); bounded, for a worker that
    // failed to load and so never says so. Threads come and go with the load: the ones there now count.
    const deadline = Date.now() + CLOSE_LOAD_WAIT_MS;
    while (Date.now() < deadline && pool.threads.some((t) => !this.loaded.has(t.threadId))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await pool.destroy();
  }
}

/**
 * A Buffer over the bytes a worker sent back, without copying them: the structured clone already
 * gave this thread its own ArrayBuffer (Buffer.from(uint8Array) would copy it once more).
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A worker's typed failure becomes the same MedgateError on this thread. */
function unwrapResult<T>(res: { ok: true; value: T } | { ok: false; code?: string; message: string; details?: Record<string, unknown> }): T {
  if (res.ok) return res.value;
  if (res.code) throw new MedgateError(res.code, res.message, res.details);
  throw new Error(res.message);
}

/**
 * The bytes in an ArrayBuffer of their own, to be moved to the worker (transferList) instead of
 * cloned: cloning an APPEND literal on the thread that serves every session cost ~190 µs a message
 * under imaptest's long sessions (91 KB on average), a copy and a move a fraction of it. The
 * caller's buffer stays usable (it may share a pooled ArrayBuffer with other buffers, which must
 * never be moved).
 */
function movableCopy(bytes: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
