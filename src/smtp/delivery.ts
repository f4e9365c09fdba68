import { readRawWhole, type RawSource } from '../util/spool-file.js';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { readFileHead } from '../util/file-head.js';
import path from 'node:path';
import type { GatewayContext } from '../context.js';
import { MedgateError } from '../errors.js';
import type { MssanteRecipient, SealableRecipient, SubmissionRecipient, SealedSubmission, SealedSubmissionFile } from '../message/sealer.js';
import { decryptWithKey } from '../crypto/keys.js';
import type { X509Credential } from '../crypto/smime/index.js';
import { isSealedFile, type CommittedDelivery, type DirectoryEntry, type NewQueueItem, type Placement, type SealedBytes } from '../store/types.js';
import type * as openpgp from 'openpgp';
import { filingDone, filingFailed, prepareFiling } from '../filing/index.js';
import { prepareMssanteCopy, type MssanteCopy } from './mssante/outbound-copy.js';
import { refuseClientEncrypted } from './mssante/client-encrypted.js';
import { withTransportOnlyNotice } from './mssante/sent-copy-notice.js';

export type AcceptedRecipient = SubmissionRecipient;

/** One sealed copy of a submission, as committed with the others (DeliveryService.commitTogether). */
interface SubmissionCopy {
  id: string;
  bytes: SealedBytes;
  placements: Placement[];
  queue?: NewQueueItem;
  /** Its local recipients (record servers among them are filed). */
  local: string[];
  remote: number;
  kind?: 'mssante';
}

/** RFC 3461 parameters of one submission. */
export interface DsnRequest {
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  /** Per recipient (lower-cased address): NOTIFY values and ORCPT. */
  recipients: Map<string, { notify: string[] | null; orcpt: string | null }>;
}

/** What sealing learned about a submission (no bytes): enough to refuse it before the commit. */
export type SealedFacts = Omit<SealedSubmission, 'sealed'>;

export interface SubmissionRequest {
  /** The original message: in memory, or (large messages) the spool file, sealed file to file. */
  source: { raw: Buffer } | { file: RawSource };
  /** Runs after sealing and before the commit; throwing refuses the message (nothing is kept). */
  check?: (facts: SealedFacts) => Promise<void> | void;
  sender: { address: string; pgpKey: openpgp.PrivateKey; entry: DirectoryEntry };
  envelopeFrom: string;
  recipients: AcceptedRecipient[];
  dsn?: DsnRequest;
}

export interface AcceptedSubmission {
  /** The queue/transaction id quoted in the 250 reply. */
  id: string;
  messageId: string;
  sealed: SealedSubmission | SealedSubmissionFile;
  deliveredLocally: string[];
  queued: string[];
}

export interface RelayedDelivery {
  sealed: SealedBytes;
  /** Outer Message-ID of the sealed message: with the recipient, the idempotence key. */
  messageId: string;
  envelopeFrom: string;
  recipients: string[];
  /**
   * What makes a re-sent copy the same delivery, when not the outer Message-ID: mail sealed on
   * arrival (MSSanté intake) gets a fresh outer Message-ID at each seal, so its key is the digest of
   * the bytes the operator sent (a retry after a lost 250 is not placed twice).
   */
  idempotenceKey?: string;
  /** Added to the audit record (non-medical facts: the transport, the operator). */
  auditDetails?: Record<string, unknown>;
}

/**
 * The durable end of every SMTP path. A submission is sealed once for all its recipients; the local
 * mailboxes, the sender's Sent copy and the queue entries for remote domains are written in one
 * transaction, and only then does the caller answer 250.
 */
export class DeliveryService {
  constructor(private readonly ctx: GatewayContext) {}

  async acceptSubmission(req: SubmissionRequest): Promise<AcceptedSubmission> {
    const sealer = await this.ctx.sealer();
    // MSSanté mailboxes without a key (issue 28) are not sealed to: they get their own copy below.
    const mssante = req.recipients.filter((r): r is MssanteRecipient => r.format === 'mssante');
    const sealable = req.recipients.filter((r): r is SealableRecipient => r.format !== 'mssante');
    let source = req.source;
    let original: Buffer | undefined;
    if (mssante.length) {
      // The MSSanté copy is built in memory (bounded by limits.maxMessageBytes); the copy sealed for
      // the others and the Sent folder says who got transport security only.
      original = 'raw' in source ? source.raw : await readRawWhole(source.file);
      refuseClientEncrypted(original, mssante.map((r) => r.address));
      source = { raw: withTransportOnlyNotice(original, mssante.map((r) => r.address)) };
    }
    const x509 = sealable.some((r) => r.format === 'smime') ? await this.senderCredential(req.sender) : undefined;
    const common = {
      sender: { ...req.sender, ...(x509 ? { x509 } : {}) }, envelopeFrom: req.envelopeFrom, recipients: sealable,
      transportOnly: mssante.map((r) => r.address),
    };
    let sealed: SealedSubmission | SealedSubmissionFile;
    if ('raw' in source) sealed = await sealer.seal({ raw: source.raw, ...common });
    else {
      const outFile = this.sealedSpoolFile();
      try {
        sealed = await sealer.sealFile({ rawFile: source.file, outFile, ...common });
      } catch (err) {
        fs.rmSync(outFile, { force: true }); // a worker that died mid-seal did not clean up
        throw err;
      }
    }
    try {
      const copy = original ? await prepareMssanteCopy(this.ctx, { original, facts: sealed, sender: req.sender.entry, recipients: mssante }) : undefined;
      return await this.commitSubmission(req, sealed, copy);
    } finally {
      // Committed: the store moved the file; refused or failed: nothing may stay behind.
      if (isSealedFile(sealed.sealed)) fs.rmSync(sealed.sealed.path, { force: true });
    }
  }

  /**
   * The sender's X.509 certificate and key (S/MIME signing): the key is stored encrypted to the
   * account's OpenPGP key, which the session unlocked.
   */
  private async senderCredential(sender: SubmissionRequest['sender']): Promise<X509Credential> {
    const account = await this.ctx.store.accounts.get(sender.address);
    if (!account) throw new MedgateError('SMIME_SIGNER_MISSING', 'the sender has no account certificate to sign S/MIME with');
    return { certPem: account.certificatePem, keyPem: await decryptWithKey(account.wrappedCertKey, sender.pgpKey) };
  }

  /** Sealed output of a large submission, beside the clear spool (same file system as the store's blobs). */
  private sealedSpoolFile(): string {
    const dir = path.join(this.ctx.config.dataDir, 'spool');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return path.join(dir, `sealed-${randomUUID()}.eml`);
  }

  private async commitSubmission(req: SubmissionRequest, sealed: SealedSubmission | SealedSubmissionFile, mssante?: MssanteCopy): Promise<AcceptedSubmission> {
    await req.check?.(sealed);
    const id = randomUUID();
    const smimeRecipients = new Set(sealed.smime?.recipients ?? []);
    const sealable = req.recipients.filter((r) => r.format !== 'mssante');
    const pgp = sealable.filter((r) => !smimeRecipients.has(r.address));
    const smime = sealable.filter((r) => smimeRecipients.has(r.address));
    // The medgate/1 OpenPGP copy: its recipients and the sender's Sent copy. Then, once per format,
    // the S/MIME copy for those who read S/MIME (issue 15) and the MSSanté copy (plain MIME sealed
    // to the transit key, its own queue entry). All in ONE store transaction before the 250: a crash
    // between two copies leaves none, so no recipient has a message whose sender got no 250 (and
    // sends it again).
    const sent = req.sender.address.endsWith('@' + this.ctx.config.domain);
    const copies: SubmissionCopy[] = [];
    if (pgp.length || sent) copies.push(this.copyOf(req, sealed, sealed.sealed, pgp, id, sent));
    if (sealed.smime && smime.length) copies.push(this.copyOf(req, sealed, sealed.smime.sealed, smime, randomUUID(), false));
    if (mssante) copies.push(this.copyOf(req, sealed, mssante.sealed, mssante.recipients, mssante.queueId, false, 'mssante'));
    const filing = await this.commitTogether(copies, sealed.messageId);
    // From here the message is accepted: nothing after the commit may turn it into an error, or the
    // client would retry a message that is already delivered (and it would arrive twice).
    for (const copy of copies) {
      await this.afterCommit(sealed.messageId, async () => {
        await this.ctx.audit.record({
          actor: req.sender.address, action: 'message.accept', outcome: 'ok', messageId: sealed.messageId,
          details: {
            id: copy.id, format: copy.kind === 'mssante' ? 'mssante-transport' : copy.bytes === sealed.smime?.sealed ? 'smime' : 'openpgp',
            local: copy.local.length, remote: copy.remote, documentType: sealed.documentType, patientFound: !!sealed.patient,
            patientConflicts: sealed.conflicts.map((c) => c.field), alreadyEncrypted: sealed.alreadyEncrypted,
          },
        });
      });
    }
    for (const f of filing) await this.afterCommit(sealed.messageId, f);
    const local = req.recipients.filter((r) => r.local);
    const remote = req.recipients.filter((r) => !r.local);
    return { id, messageId: sealed.messageId, sealed, deliveredLocally: local.map((r) => r.address), queued: remote.map((r) => r.address) };
  }

  /** One sealed copy of a submission: its local mailboxes (and the Sent copy) and its queue entry. */
  private copyOf(req: SubmissionRequest, facts: SealedFacts, bytes: SealedBytes, recipients: AcceptedRecipient[], id: string, sent: boolean, kind?: 'mssante'): SubmissionCopy {
    const local = recipients.filter((r) => r.local);
    const remote = recipients.filter((r) => !r.local);
    const placements: Placement[] = local.map((r) => ({ owner: r.address, mailbox: 'INBOX', deliveryKey: `${id}:${r.address}` }));
    if (sent) placements.push({ owner: req.sender.address, mailbox: 'Sent', flags: ['\\Seen'], deliveryKey: `${id}:sent` });
    const queue: NewQueueItem | undefined = remote.length ? {
      id,
      envelopeFrom: req.envelopeFrom,
      messageId: facts.messageId,
      expiresAt: new Date(Date.now() + this.ctx.config.queue.maxLifetimeHours * 3600_000).toISOString(),
      ret: req.dsn?.ret ?? null,
      envid: req.dsn?.envid ?? null,
      recipients: remote.map((r) => ({
        recipient: r.address,
        notify: req.dsn?.recipients.get(r.address)?.notify ?? null,
        orcpt: req.dsn?.recipients.get(r.address)?.orcpt ?? null,
      })),
    } : undefined;
    return { id, bytes, placements, ...(queue ? { queue } : {}), local: local.map((r) => r.address), remote: remote.length, ...(kind ? { kind } : {}) };
  }

  /**
   * The copies of a submission and the filing rows of the record servers among their local
   * recipients in ONE store transaction (LocalDelivery.deliverTogether). Filing never refuses mail:
   * when the filing cannot be written the copies are committed alone and the failure recorded.
   * Returns the bookkeeping to run after the commit (audit, receipts to send).
   */
  private async commitTogether(copies: SubmissionCopy[], messageId: string): Promise<Array<() => Promise<unknown>>> {
    const prepared = [];
    for (const copy of copies) {
      const p = copy.local.length ? await this.prepareFor(copy.bytes, messageId, copy.local) : undefined;
      if (p) prepared.push(p);
    }
    const items = copies.map((c) => ({ sealed: c.bytes, placements: c.placements, ...(c.queue ? { queue: c.queue } : {}) }));
    const failed = prepared.filter((p) => 'error' in p).map((p) => () => filingFailed(this.ctx, p));
    const toFile = prepared.filter((p) => 'service' in p);
    if (!toFile.length) {
      await this.ctx.localDelivery.deliverTogether(items);
      return failed;
    }
    try {
      const { also } = await this.ctx.localDelivery.deliverTogether(items, async (tx) => {
        const results = [];
        for (const p of toFile) results.push(await p.service.fileIn(tx.filing, p.item));
        return results;
      });
      return [...failed, ...toFile.map((p, i) => () => filingDone(this.ctx, p, also![i]!))];
    } catch (error) {
      // Nothing committed (sealed files are where they were). Delivered without the filing (a store
      // that fails fails here again).
      await this.ctx.localDelivery.deliverTogether(items);
      return [...failed, ...toFile.map((p) => () => filingFailed(this.ctx, { ...p, error }))];
    }
  }

  /**
   * The commit of a delivery and, when record servers are among `recipients`, its filing rows (the
   * patient decision, documents, receipts owed) in ONE store transaction (LocalDelivery.deliverWith):
   * a crash between the two writes leaves both or neither, never mail in a record server's INBOX
   * that was not filed. A large message (a sealed file, never in memory) is prepared from the
   * file's header block (its blob id is the file's sha256) and committed the same way: the file
   * becomes the store's in that transaction. Filing never refuses mail: when the item cannot be
   * filed (its routing header does not open, the decision fails), the message is delivered alone
   * and the failure recorded. `filing` is the bookkeeping after the commit (audit, receipts to send).
   */
  private async deliverFiled(bytes: SealedBytes, placements: Placement[], options: { queue?: NewQueueItem }, messageId: string, recipients: string[]): Promise<{ committed: CommittedDelivery; filing?: () => Promise<unknown> }> {
    const prepared = recipients.length ? await this.prepareFor(bytes, messageId, recipients) : undefined;
    if (prepared && 'service' in prepared) {
      try {
        const { committed, also } = await this.ctx.localDelivery.deliverWith(bytes, placements, options, (tx) => prepared.service.fileIn(tx.filing, prepared.item));
        return { committed, filing: () => filingDone(this.ctx, prepared, also) };
      } catch (error) {
        // Nothing committed (a sealed file is where it was). Delivered without its filing (a store
        // that fails fails here again).
        const committed = await this.ctx.localDelivery.deliver(bytes, placements, options);
        return { committed, filing: () => filingFailed(this.ctx, { ...prepared, error }) };
      }
    }
    const committed = await this.ctx.localDelivery.deliver(bytes, placements, options);
    if (prepared && 'error' in prepared) return { committed, filing: () => filingFailed(this.ctx, prepared) };
    return { committed };
  }

  /** Filing's preparation (outside any transaction): from the bytes, or a sealed file's header block. */
  private async prepareFor(bytes: SealedBytes, messageId: string, recipients: string[]): ReturnType<typeof prepareFiling> {
    if (!isSealedFile(bytes)) return prepareFiling(this.ctx, { sealed: bytes, blobId: createHash('sha256').update(bytes).digest('hex'), messageId, recipients });
    const { head } = await readFileHead(bytes.path, HEAD_BYTES);
    return prepareFiling(this.ctx, { sealed: head, blobId: bytes.sha256, messageId, recipients });
  }

  /** Bookkeeping after a durable commit: failures are logged (by code, never content), not thrown. */
  private async afterCommit(messageId: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.ctx.logger.error({ messageId, code: typeof code === 'string' ? code : (err as Error).name }, 'post-commit bookkeeping failed; the message stays delivered');
    }
  }

  /** A sealed message relayed by a peer gateway: into each local recipient's INBOX, once. */
  async acceptRelayed(req: RelayedDelivery): Promise<{ placed: number; duplicates: number }> {
    const placements: Placement[] = req.recipients.map((r) => ({ owner: r.toLowerCase(), mailbox: 'INBOX', deliveryKey: `relay:${req.idempotenceKey ?? req.messageId}:${r.toLowerCase()}` }));
    const { committed: res, filing } = await this.deliverFiled(req.sealed, placements, {}, req.messageId, req.recipients);
    const duplicates = res.placed.filter((p) => p.duplicate).length;
    await this.afterCommit(req.messageId, async () => {
      await this.ctx.audit.record({
        actor: req.envelopeFrom, action: 'message.relay.accept', outcome: 'ok', messageId: req.messageId,
        details: { recipients: req.recipients.length, duplicates, ...req.auditDetails },
      });
    });
    if (filing) await this.afterCommit(req.messageId, filing);
    return { placed: res.placed.length - duplicates, duplicates };
  }
}

/** Header blocks are bounded to 1 MiB at submission; the routing carrier is a few KB. */
const HEAD_BYTES = 1024 * 1024 + 2;
