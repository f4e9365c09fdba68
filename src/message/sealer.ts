import type { TrustFiles } from './forwarded-author.js';
import type { RawSource } from '../util/spool-file.js';
import type * as openpgp from 'openpgp';
import { readPublicKey } from '../crypto/keys.js';
import { inspect, open, openRoutingHeader, type RoutingHeader, type Transport } from '../crypto/seal/index.js';
import type { ResolveSigner } from '../crypto/seal/index.js';
import type { DirectoryService } from '../directory/directory-service.js';
import { MedgateError } from '../errors.js';
import type { DirectoryEntry } from '../store/types.js';
import { sealOwnCopy } from './seal-own-copy.js';
import { sealSubmission, sealSubmissionFile, type SealedSubmission, type SealedSubmissionFile } from './seal-submission.js';
import type { SealPool } from './worker/seal-pool.js';
import type { ResolveX509Signer, X509Credential } from '../crypto/smime/index.js';
import { chooseFormat } from './recipient-format.js';
import type { OpenTaskResult } from './worker/seal-worker.js';
import type { MessageMeta } from '../imap/backend.js';
import { analyseMessage } from '../imap/mime/structure.js';
import { toCrlf } from '../util/crlf.js';
import { EventLoopLoad } from '../util/event-loop-load.js';

export type { SealedSubmission, SealedSubmissionFile } from './seal-submission.js';

/** `mssante-denied`: an MSSanté mailbox without a key, and `mssante.outbound` is `deny`. */
export type RecipientRefusal = 'unknown' | 'no-key' | 'mssante-denied' | 'domain-not-whitelisted' | 'suspended' | 'revoked';

interface RecipientBase { ok: true; address: string; local: boolean; entry: DirectoryEntry; filingKey: openpgp.PublicKey | undefined }
/** A recipient that reads medgate/1 with a PGP/MIME body. */
export type OpenPgpRecipient = RecipientBase & { format: 'openpgp'; publicKey: openpgp.PublicKey };
/** A recipient that reads S/MIME: its X.509 encryption certificate (issue 15). */
export type SmimeRecipient = RecipientBase & {
  format: 'smime';
  certificatePem: string;
  /** Its OpenPGP key when the entry has one too (asks for S/MIME): the routing header is encrypted to it as well. */
  publicKey: openpgp.PublicKey | undefined;
};
/**
 * A remote MSSanté mailbox with no key medgate can seal to (issue 28): it gets plain MIME over
 * mutual TLS, by policy (`mssante.outbound: allow`). Never a local mailbox, never a record server.
 */
export type MssanteRecipient = Omit<RecipientBase, 'filingKey'> & { format: 'mssante'; local: false; filingKey: undefined };
export type RecipientRefused = { ok: false; address: string; reason: RecipientRefusal };

/** OpenPGP recipients only: what gateway-made mail (receipts, record requests, reports) is sealed to. */
export type ResolvedRecipient = OpenPgpRecipient | RecipientRefused;
/** Any recipient a submission can be sealed to, in the format it reads. */
export type SealableRecipient = OpenPgpRecipient | SmimeRecipient;
/** Any recipient a submission can go to: sealed, or (MSSanté without a key) over transport only. */
export type SubmissionRecipient = SealableRecipient | MssanteRecipient;
export type ResolvedAnyRecipient = SubmissionRecipient | RecipientRefused;

export interface SealRequest {
  raw: Buffer;
  /** `x509`: the sender's certificate and key, needed when a recipient reads S/MIME. */
  sender: { address: string; pgpKey: openpgp.PrivateKey; entry: DirectoryEntry; x509?: X509Credential };
  recipients: SealableRecipient[];
  envelopeFrom: string;
  /** MSSanté recipients served over transport (not sealed to): with them, no sealed recipient is fine (the Sent copy). */
  transportOnly?: string[];
  /** MSSanté intake: `sender.pgpKey` is the gateway's intake key; these facts go into the routing header. */
  transport?: Transport;
}


export interface SealFileRequest extends Omit<SealRequest, 'raw'> {
  rawFile: RawSource;
  outFile: string;
}

function jobOf(req: Omit<SealRequest, 'raw'>, trustFiles: TrustFiles | undefined) {
  if (!req.recipients.length && !req.transportOnly?.length) throw new MedgateError('NO_RECIPIENT', 'the message has no recipient medgate can encrypt to');
  return {
    senderAddress: req.sender.address, senderEntry: req.sender.entry, signingKey: req.sender.pgpKey,
    recipients: req.recipients.map((r) => (r.format === 'openpgp'
      ? { address: r.address, format: r.format, publicKey: r.publicKey, filingKey: r.filingKey }
      : { address: r.address, format: r.format, certificatePem: r.certificatePem, publicKey: r.publicKey, filingKey: r.filingKey })),
    envelopeFrom: req.envelopeFrom,
    signerX509: req.sender.x509,
    ...(req.transport ? { transport: req.transport } : {}),
    ...(trustFiles ? { trustFiles } : {}),
  };
}

/** Who signed, as the verdict shows it (non-medical directory facts). */
function signerIdentity(entry: DirectoryEntry): Record<string, unknown> {
  return {
    address: entry.address, nationalId: entry.nationalId, name: [entry.givenName, entry.familyName].filter(Boolean).join(' ') || null,
    profession: entry.professionLabel, specialty: entry.specialtyLabel, organisation: entry.organisation,
  };
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}


/**
 * Turns a submitted message into a sealed one: finds the patient and the document type, builds the
 * routing header from the sender's directory identity, and seals for every recipient, the sender
 * (Sent copy) and the recipients' gateways' filing keys.
 */
/** Event-loop utilisation above which an APPEND's parse goes to a worker (EventLoopLoad). */
const BUSY_EVENT_LOOP = 0.9;

export class MessageSealer {
  private pool: SealPool | undefined;
  private readonly load = new EventLoopLoad();
  /** Large streamed seals running on this thread (sealFile): at most one. */
  private inlineFileSeals = 0;
  private ownFilingPublicKey: openpgp.PublicKey | undefined;
  /** Parsed directory keys by armored text: parsing a key costs more than verifying a signature. */
  private readonly keyCache = new Map<string, Promise<openpgp.PublicKey>>();

  private parseKey(armored: string): Promise<openpgp.PublicKey> {
    let key = this.keyCache.get(armored);
    if (!key) {
      if (this.keyCache.size > 5000) this.keyCache.clear();
      key = readPublicKey(armored);
      key.catch(() => this.keyCache.delete(armored));
      this.keyCache.set(armored, key);
    }
    return key;
  }

  constructor(
    private readonly directory: DirectoryService,
    private readonly gatewayDomain: string,
    private readonly ownFilingKey: openpgp.PrivateKey,
    /** Addresses and domains that ask for S/MIME (config `smime.prefer`). */
    private readonly smimePrefer: readonly string[] = [],
    /** Config `mssante.outbound`: whether keyless MSSanté mailboxes get plain MIME over mutual TLS. */
    private readonly mssanteOutbound: 'allow' | 'deny' = 'deny',
    /**
     * This gateway's MSSanté intake key: it signs what is sealed on arrival from an operator
     * (src/smtp/mssante/intake.ts), and its public half recognises that signature when opening.
     * Loaded once with the sealer: the key that signs is the key readers are told to trust, and the
     * seal pool's armoring cache (keyed by the key object) serves every message.
     */
    readonly intakeSigningKey?: openpgp.PrivateKey,
    /** The health PKI's anchors and CRLs (files): a forwarded message's S/MIME signature is checked against them. */
    private readonly trustFiles?: TrustFiles,
  ) {
    this.intakeKey = intakeSigningKey?.toPublic();
    this.intakeKeyIds = new Set(this.intakeKey ? this.intakeKey.getKeyIDs().map((k) => k.toHex()) : []);
  }

  private readonly intakeKey?: openpgp.PublicKey;

  private readonly intakeKeyIds: Set<string>;

  /** Whether a signature's issuer key IDs are this gateway's intake key. */
  isIntakeSignature(keyIds: readonly string[]): boolean {
    return keyIds.some((id) => this.intakeKeyIds.has(id));
  }

  /**
   * The directory-backed signer lookup used when opening anything. A signature by this gateway's
   * own intake key resolves to that key with `identity.transport`: readers show it as a transport
   * verdict (what protected the message on its way), never as the author's signature.
   */
  readonly resolveSigner: ResolveSigner = async (ref) => {
    if (this.intakeKey && this.isIntakeSignature(ref.keyIds)) {
      return { publicKey: this.intakeKey, status: 'active', identity: { transport: 'mssante', address: ref.address ?? null } };
    }
    if (!ref.address) return undefined;
    const entry = await this.directory.lookup(ref.address);
    if (!entry?.pgpPublicKey) return undefined;
    // Only an application (practice software) signs for someone else: a person's key never vouches for another From.
    if (ref.onBehalfOf !== undefined && entry.mailboxType !== 'APP') return undefined;
    return { publicKey: await this.parseKey(entry.pgpPublicKey), status: entry.status, identity: signerIdentity(entry) };
  };

  /** The directory's word on an S/MIME signer (its certificate chain is checked by openSmime). */
  readonly resolveX509Signer: ResolveX509Signer = async (address) => {
    const entry = await this.directory.lookup(address);
    return entry ? { status: entry.status, identity: signerIdentity(entry) } : undefined;
  };

  /** Whether medgate can encrypt to this address as OpenPGP; never sends in clear, so no key means refusal. */
  async resolveRecipient(addressInput: string): Promise<ResolvedRecipient> {
    return this.resolve(addressInput, false) as Promise<ResolvedRecipient>;
  }

  /**
   * The recipient of a submission, in the format it reads (src/message/recipient-format.ts):
   * S/MIME for an X.509-only entry or one that asks for it, OpenPGP otherwise; no key is a refusal.
   */
  async resolveSubmissionRecipient(addressInput: string): Promise<ResolvedAnyRecipient> {
    return this.resolve(addressInput, true);
  }

  private async resolve(addressInput: string, allowSmime: boolean): Promise<ResolvedAnyRecipient> {
    const address = addressInput.trim().toLowerCase();
    const domain = domainOf(address);
    const local = domain === this.gatewayDomain;
    if (!local && !(await this.directory.isDomainAllowed(domain))) return { ok: false, address, reason: 'domain-not-whitelisted' };
    const entry = await this.directory.lookup(address);
    if (!entry) return { ok: false, address, reason: 'unknown' };
    if (entry.status !== 'active') return { ok: false, address, reason: entry.status };
    const recordServer = allowSmime && await this.directory.isRecordServer(address);
    const format = allowSmime
      ? chooseFormat(entry, { prefer: this.smimePrefer, recordServer })
      : entry.pgpPublicKey ? 'openpgp' : undefined;
    if (!format) {
      // A submission to a keyless mailbox of a whitelisted remote domain: MSSanté, by policy (issue 28).
      if (!allowSmime || local || recordServer) return { ok: false, address, reason: 'no-key' };
      if (this.mssanteOutbound === 'deny') return { ok: false, address, reason: 'mssante-denied' };
      return { ok: true, format: 'mssante', address, local: false, entry, filingKey: undefined };
    }
    let filingKey: openpgp.PublicKey | undefined;
    if (local) filingKey = (this.ownFilingPublicKey ??= this.ownFilingKey.toPublic()); // one object: armored once for the workers
    else {
      const armored = await this.directory.peerFilingKey(domain);
      filingKey = armored ? await this.parseKey(armored) : undefined;
    }
    const publicKey = entry.pgpPublicKey ? await this.parseKey(entry.pgpPublicKey) : undefined;
    if (format === 'smime') return { ok: true, format, address, local, entry, certificatePem: entry.certificatePem!, publicKey, filingKey };
    return { ok: true, format, address, local, entry, publicKey: publicKey!, filingKey };
  }

  async seal(req: SealRequest): Promise<SealedSubmission> {
    const job = { raw: req.raw, ...jobOf(req, this.trustFiles) };
    return this.pool ? this.pool.seal(job) : sealSubmission(job);
  }

  /** A message the user stores himself (IMAP APPEND), sealed to his own key: in a worker when there is a pool. */
  sealOwnCopy(raw: Buffer, key: openpgp.PrivateKey, owner: string, internalDate: Date, options: { withoutRouting?: boolean } = {}): Promise<Buffer> {
    return this.pool ? this.pool.sealOwnCopy(raw, key, owner, internalDate, options) : sealOwnCopy(raw, key, owner, internalDate, options);
  }

  /** An IMAP APPEND's copy, with its IMAP metadata when `analyse`: in a worker when there is a pool. */
  /**
   * ENVELOPE and BODYSTRUCTURE of an APPENDed own copy: in a worker when this thread is busy (it
   * serves every session: `concurrent`, other APPENDs in progress, or a saturated event loop), here
   * otherwise (a worker's round trip would cost more than the parse). One client's APPENDs in a row
   * keep the loop half busy and gain nothing from a worker, hence the concurrency test first.
   */
  analyseAppended(raw: Buffer, concurrent: number): Promise<MessageMeta | undefined> {
    if (this.pool && (concurrent > 0 || this.load.utilization() > BUSY_EVENT_LOOP)) return this.pool.analyse(raw);
    return analyseMessage(toCrlf(raw)).catch(() => undefined);
  }

  /**
   * Opens a copy sealed with sealOwnCopy by `key` itself (the MSSanté transit copy): in a worker when
   * there is a pool. Only the key's own signature opens it; anything else is a typed refusal.
   */
  async openOwnCopy(sealed: Buffer, key: openpgp.PrivateKey, owner: string): Promise<Buffer> {
    if (this.pool) {
      const res = await this.pool.open({ sealed, key, ownAddress: owner, knownFingerprint: null, signer: null });
      if (!res.ok) throw new MedgateError(res.code ?? 'OPEN_FAILED', res.message, res.details);
      if (!res.ownCopy) throw new MedgateError('SIGNATURE_INVALID', 'the copy is not signed by the key it is sealed to');
      return res.raw as Buffer;
    }
    const own = key.toPublic();
    const ids = new Set(own.getKeyIDs().map((k) => k.toHex()));
    const opened = await open({
      sealed, decryptionKey: key,
      resolveSigner: async (ref) => (ref.keyIds.some((id) => ids.has(id)) ? { publicKey: own, status: 'active' as const } : undefined),
    });
    return opened.raw;
  }

  /**
   * seal() for a spooled message: reads `rawFile`, writes the sealed message to `outFile`.
   *
   * On a quiet gateway (no sealing thread running) the seal runs here, on the main thread, instead
   * of starting a thread for it: a sealing thread costs ~60 MB of RSS (its isolate, its code, its
   * heap) for the 30 s it lives, more than twice a 25 MB message (issue 31, bench/memory.bench.ts).
   * The seal is a stream of small chunks (file reads, openpgp.js's streamed sign+encrypt, the
   * armor), so the event loop keeps serving the other sessions between them: a 25 MB seal here
   * held the loop at most 7-23 ms at a time (p99 under 5 ms) for ~0.5-0.9 s of CPU, what the thread
   * would have spent (docs/operations.md, "Where the memory goes"). It goes to the pool as before
   * when a thread is already there (the gateway is busy: no memory to save), when another large
   * seal already runs here (one at a time on this thread), and when a recipient reads S/MIME (pkijs
   * builds that copy whole in memory, synchronously). Not by the event loop's recent utilisation:
   * right after a 25 MB DATA it is high whatever the load, and the threads say the load better.
   */
  async sealFile(req: SealFileRequest): Promise<SealedSubmissionFile> {
    const job = { rawFile: req.rawFile, outFile: req.outFile, ...jobOf(req, this.trustFiles) };
    if (!this.pool) return sealSubmissionFile(job);
    if (this.pool.threads > 0 || this.inlineFileSeals > 0 || job.recipients.some((r) => r.format === 'smime')) {
      return this.pool.sealFile(job);
    }
    this.inlineFileSeals++;
    try {
      return await sealSubmissionFile(job);
    } finally {
      this.inlineFileSeals--;
    }
  }

  /** Seals in worker threads from now on (the server does; one-shot CLI commands seal inline). */
  usePool(pool: SealPool | undefined): void {
    this.pool = pool;
  }

  /** Opens a sealed message with a user's key (verification through the directory). */
  open(sealed: Buffer, key: openpgp.PrivateKey): ReturnType<typeof open> {
    return open({ sealed, decryptionKey: key, resolveSigner: this.resolveSigner });
  }

  /** Opens with a caller-chosen signer lookup (mailbox reading pins the key that verified first). */
  openWith(sealed: Buffer, key: openpgp.PrivateKey, resolveSigner: ResolveSigner): ReturnType<typeof open> {
    return open({ sealed, decryptionKey: key, resolveSigner });
  }

  /**
   * Opens a stored message for its reader in the worker pool, the signer resolved beforehand from
   * the directory by the sealed message's From. Undefined when there is no pool (open inline).
   */
  async openInPool(sealed: Buffer, key: openpgp.PrivateKey, ownAddress: string, knownFingerprint: string | null): Promise<OpenTaskResult | undefined> {
    if (!this.pool) return undefined;
    const fromField = inspect(sealed).outerHeaders.find(([k]) => k.toLowerCase() === 'from')?.[1] ?? '';
    const from = (/<([^>]+)>/.exec(fromField)?.[1] ?? fromField).trim().toLowerCase();
    const resolved = from ? await this.resolveSigner({ address: from, keyIds: [] }) : undefined;
    return this.pool.open({
      sealed, key, ownAddress, knownFingerprint,
      signer: resolved ? { address: from, publicKey: resolved.publicKey, status: resolved.status, identity: resolved.identity } : null,
    });
  }

  /** Opens only the routing header with a given key (a record server's own key). */
  openRoutingWith(sealed: Buffer, key: openpgp.PrivateKey, resolveSigner: ResolveSigner = this.resolveSigner): ReturnType<typeof openRoutingHeader> {
    return openRoutingHeader({ sealed, decryptionKey: key, resolveSigner });
  }

  /** Opens only the routing header, with this gateway's filing key: never the content. */
  async openRouting(sealed: Buffer): Promise<{ routing: RoutingHeader; verification: Awaited<ReturnType<typeof openRoutingHeader>>['verification'] }> {
    return openRoutingHeader({ sealed, decryptionKey: this.ownFilingKey, resolveSigner: this.resolveSigner });
  }

  inspect(sealed: Buffer): ReturnType<typeof inspect> {
    return inspect(sealed);
  }
}
