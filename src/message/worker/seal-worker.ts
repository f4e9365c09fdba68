/**
 * Worker-thread entry (piscina): seals one submission off the main event loop. Keys cross the
 * thread boundary as armored text (in process memory only) and are parsed here.
 */
import * as openpgp from 'openpgp';
import type { DirectoryEntry } from '../../store/types.js';
import { sealSubmission, type SealedSubmission } from '../seal-submission.js';

export interface SealTask {
  raw: Uint8Array;
  senderAddress: string;
  senderEntry: DirectoryEntry;
  signingKeyArmored: string;
  recipients: Array<{ address: string; publicKeyArmored: string; filingKeyArmored: string | null }>;
  envelopeFrom: string;
}

export type SealTaskResult = { ok: true; value: SealedSubmission } | { ok: false; code?: string; message: string; details?: Record<string, unknown> };

export default async function sealTask(task: SealTask): Promise<SealTaskResult> {
  try {
    const signingKey = await openpgp.readPrivateKey({ armoredKey: task.signingKeyArmored });
    const recipients = await Promise.all(task.recipients.map(async (r) => ({
      address: r.address,
      publicKey: await openpgp.readKey({ armoredKey: r.publicKeyArmored }),
      filingKey: r.filingKeyArmored ? await openpgp.readKey({ armoredKey: r.filingKeyArmored }) : undefined,
    })));
    const value = await sealSubmission({
      raw: Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength),
      senderAddress: task.senderAddress, senderEntry: task.senderEntry, signingKey, recipients, envelopeFrom: task.envelopeFrom,
    });
    return { ok: true, value };
  } catch (err) {
    // Errors are rebuilt on the main thread as MedgateError with the same code and message.
    const e = err as { code?: unknown; message?: string; details?: Record<string, unknown> };
    return { ok: false, code: typeof e.code === 'string' ? e.code : undefined, message: e.message ?? String(err), details: e.details };
  }
}
