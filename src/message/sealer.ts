import type * as openpgp from 'openpgp';
import { readPublicKey } from '../crypto/keys.js';
import { inspect, open, openRoutingHeader, seal, type RoutingHeader, type RoutingInput } from '../crypto/seal/index.js';
import type { ResolveSigner } from '../crypto/seal/index.js';
import type { DirectoryService } from '../directory/directory-service.js';
import { roleOf } from '../directory/professions.js';
import { MedgateError } from '../errors.js';
import type { DirectoryEntry } from '../store/types.js';
import { classifyMessage, type DocumentType } from './classify/index.js';
import { extractPatientIdentity, type IdentityConflict, type PatientIdentity } from './identity/index.js';
import { parseForExtraction } from './parse.js';

export type RecipientRefusal = 'unknown' | 'no-key' | 'domain-not-whitelisted' | 'suspended' | 'revoked';

export type ResolvedRecipient =
  | { ok: true; address: string; local: boolean; entry: DirectoryEntry; publicKey: openpgp.PublicKey; filingKey: openpgp.PublicKey | undefined }
  | { ok: false; address: string; reason: RecipientRefusal };

export interface SealRequest {
  raw: Buffer;
  sender: { address: string; pgpKey: openpgp.PrivateKey; entry: DirectoryEntry };
  recipients: Extract<ResolvedRecipient, { ok: true }>[];
  envelopeFrom: string;
}

export interface SealedSubmission {
  sealed: Buffer;
  /** Outer Message-ID of the sealed message (not medical). */
  messageId: string;
  alreadyEncrypted: boolean;
  routing: RoutingInput;
  patient: PatientIdentity | undefined;
  /** Which fields disagree between which sources (no values: nothing medical). */
  conflicts: IdentityConflict[];
  documentType: DocumentType;
  documents: Array<{ part: string; type: DocumentType }>;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function headerDate(value: string | undefined): string {
  const d = value ? new Date(value) : new Date();
  return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString().slice(0, 10);
}

/**
 * Turns a submitted message into a sealed one: finds the patient and the document type, builds the
 * routing header from the sender's directory identity, and seals for every recipient, the sender
 * (Sent copy) and the recipients' gateways' filing keys.
 */
export class MessageSealer {
  constructor(
    private readonly directory: DirectoryService,
    private readonly gatewayDomain: string,
    private readonly ownFilingKey: openpgp.PrivateKey,
  ) {}

  /** The directory-backed signer lookup used when opening anything. */
  readonly resolveSigner: ResolveSigner = async (ref) => {
    if (!ref.address) return undefined;
    const entry = await this.directory.lookup(ref.address);
    if (!entry?.pgpPublicKey) return undefined;
    return {
      publicKey: await readPublicKey(entry.pgpPublicKey),
      status: entry.status,
      identity: {
        address: entry.address, nationalId: entry.nationalId, name: [entry.givenName, entry.familyName].filter(Boolean).join(' ') || null,
        profession: entry.professionLabel, specialty: entry.specialtyLabel, organisation: entry.organisation,
      },
    };
  };

  /** Whether medgate can encrypt to this address; never sends in clear, so no key means refusal. */
  async resolveRecipient(addressInput: string): Promise<ResolvedRecipient> {
    const address = addressInput.trim().toLowerCase();
    const domain = domainOf(address);
    const local = domain === this.gatewayDomain;
    if (!local && !(await this.directory.isDomainAllowed(domain))) return { ok: false, address, reason: 'domain-not-whitelisted' };
    const entry = await this.directory.lookup(address);
    if (!entry) return { ok: false, address, reason: 'unknown' };
    if (entry.status !== 'active') return { ok: false, address, reason: entry.status };
    if (!entry.pgpPublicKey) return { ok: false, address, reason: 'no-key' };
    const publicKey = await readPublicKey(entry.pgpPublicKey);
    let filingKey: openpgp.PublicKey | undefined;
    if (local) filingKey = this.ownFilingKey.toPublic();
    else {
      const armored = await this.directory.peerFilingKey(domain);
      filingKey = armored ? await readPublicKey(armored) : undefined;
    }
    return { ok: true, address, local, entry, publicKey, filingKey };
  }

  async seal(req: SealRequest): Promise<SealedSubmission> {
    if (!req.recipients.length) throw new MedgateError('NO_RECIPIENT', 'the message has no recipient medgate can encrypt to');
    const input = await parseForExtraction(req.raw);
    const extraction = extractPatientIdentity(input);
    const classification = classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, sender: req.sender.entry });
    const p = extraction.patient;
    const e = req.sender.entry;
    const routing: RoutingInput = {
      messageId: input.headers.get('message-id') ?? '',
      patient: p ? {
        familyName: p.familyName, givenName: p.givenName, birthDate: p.birthDate,
        ...(p.sex ? { sex: p.sex } : {}), ...(p.ins ? { ins: { value: p.ins.value, oid: p.ins.oid } } : {}),
      } : null,
      document: {
        type: classification.type,
        date: headerDate(input.headers.get('date')),
        ...(input.subject ? { title: input.subject.slice(0, 200) } : {}),
      },
      sender: {
        address: req.sender.address, nationalId: e.nationalId, professionCode: e.professionCode,
        professionLabel: e.professionLabel, specialtyCode: e.specialtyCode, role: roleOf(e),
      },
      recipients: req.recipients.map((r) => r.address),
    };
    const filingKeys = req.recipients.map((r) => r.filingKey).filter((k): k is openpgp.PublicKey => !!k);
    const result = await seal({
      raw: req.raw,
      routing,
      signingKey: req.sender.pgpKey,
      recipientKeys: [...req.recipients.map((r) => r.publicKey), req.sender.pgpKey.toPublic()],
      filingKeys,
      envelope: { from: req.envelopeFrom, to: req.recipients.map((r) => r.address) },
    });
    return {
      sealed: result.sealed, messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted, routing,
      patient: p, conflicts: extraction.conflicts, documentType: classification.type,
      documents: classification.documents.map((d) => ({ part: d.part, type: d.type })),
    };
  }

  /** Opens a sealed message with a user's key (verification through the directory). */
  open(sealed: Buffer, key: openpgp.PrivateKey): ReturnType<typeof open> {
    return open({ sealed, decryptionKey: key, resolveSigner: this.resolveSigner });
  }

  /** Opens with a caller-chosen signer lookup (mailbox reading pins the key that verified first). */
  openWith(sealed: Buffer, key: openpgp.PrivateKey, resolveSigner: ResolveSigner): ReturnType<typeof open> {
    return open({ sealed, decryptionKey: key, resolveSigner });
  }

  /** Opens only the routing header, with this gateway's filing key: never the content. */
  async openRouting(sealed: Buffer): Promise<{ routing: RoutingHeader; verification: Awaited<ReturnType<typeof openRoutingHeader>>['verification'] }> {
    return openRoutingHeader({ sealed, decryptionKey: this.ownFilingKey, resolveSigner: this.resolveSigner });
  }

  inspect(sealed: Buffer): ReturnType<typeof inspect> {
    return inspect(sealed);
  }
}
