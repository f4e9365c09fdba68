import os from 'node:os';
import { Piscina } from 'piscina';
import { MedgateError } from '../../errors.js';
import type { SealedSubmission, SubmissionToSeal } from '../seal-submission.js';
import type { SealTask, SealTaskResult } from './seal-worker.js';

/**
 * A pool of worker threads that seal submissions, so crypto uses every core and the event loop
 * stays free for SMTP/IMAP connections.
 */
export class SealPool {
  private readonly pool: Piscina;

  constructor(threads = Math.max(1, os.availableParallelism())) {
    this.pool = new Piscina({
      // From dist the worker is .js; run from source (tsx: benches) it is .ts and the loader is inherited.
      filename: new URL(import.meta.url.endsWith('.ts') ? './seal-worker.ts' : './seal-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
    });
  }

  async seal(req: SubmissionToSeal): Promise<SealedSubmission> {
    const task: SealTask = {
      raw: req.raw,
      senderAddress: req.senderAddress,
      senderEntry: req.senderEntry,
      signingKeyArmored: req.signingKey.armor(),
      recipients: req.recipients.map((r) => ({ address: r.address, publicKeyArmored: r.publicKey.armor(), filingKeyArmored: r.filingKey?.armor() ?? null })),
      envelopeFrom: req.envelopeFrom,
    };
    const res = (await this.pool.run(task)) as SealTaskResult;
    if (!res.ok) {
      if (res.code) throw new MedgateError(res.code, res.message, res.details);
      throw new Error(res.message);
    }
    return { ...res.value, sealed: Buffer.from(res.value.sealed) };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
