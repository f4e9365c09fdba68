import type * as openpgp from 'openpgp';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { seal, type RoutingInput, type Transport } from '../crypto/seal/index.js';
import { roleOf } from '../directory/professions.js';
import type { DirectoryEntry } from '../store/types.js';
import { classifyMessage, type AuthorClaim, type DocumentType } from './classify/index.js';
import { extractPatientIdentity, titleWithoutSubjectTag, type IdentityConflict, type PatientIdentity } from './identity/index.js';
import type { ExtractionInput } from './parse.js';
import { parseSubmission, parseSubmissionFile } from './parse-submission.js';
import { sealFile } from '../crypto/seal/seal-stream.js';
import type { SealedFile } from '../store/types.js';
import type { X509Credential } from '../crypto/smime/index.js';
import { MedgateError } from '../errors.js';
import { splitHeaderBlock } from '../crypto/seal/header-block.js';
import { MAX_ADDRESS_FIELD } from '../crypto/seal/header-values.js';
import { planOuterLayer } from '../crypto/seal/seal-parts.js';
import { rawSize, readRawHead, readRawWhole, type RawSource } from '../util/spool-file.js';
import { forwardedView } from './forwarded.js';
import { describeForwardedParts, type ForwardedDocument, type TrustFiles } from './forwarded-author.js';

/** Up to this size a message on disk is read whole to find its forwarded messages. */
const FORWARD_VIEW_MAX = 4 * 1024 * 1024;
import type { SealFormat } from './recipient-format.js';

/** Header blocks are bounded to 1 MiB at submission. */
const HEAD_MAX = 1024 * 1024 + 2;

/** One recipient and what it reads: an OpenPGP key (medgate/1 PGP/MIME) or an X.509 certificate (S/MIME). */
export interface RecipientToSeal {
  address: string;
  format: SealFormat;
  publicKey?: openpgp.PublicKey | undefined;
  certificatePem?: string | undefined;
  filingKey: openpgp.PublicKey | undefined;
}

/** The S/MIME copy of a submission, for the recipients who read S/MIME (same outer Message-ID). */
export interface SmimeCopy {
  sealed: Buffer;
  recipients: string[];
}

export interface SubmissionToSeal {
  raw: Buffer;
  senderAddress: string;
  senderEntry: DirectoryEntry;
  signingKey: openpgp.PrivateKey;
  recipients: RecipientToSeal[];
  envelopeFrom: string;
  /** The sender's X.509 certificate and key: needed only when a recipient reads S/MIME. */
  signerX509?: X509Credential | undefined;
  /**
   * MSSanté intake (issue 28): the message came in plain over mutual TLS and `signingKey` is the
   * gateway's intake key. These facts go into the routing header, and the seal has no sender copy
   * (nothing is encrypted to the intake key: it signs, it never reads).
   */
  transport?: Transport | undefined;
  /** The health PKI's files: a forwarded message's S/MIME signature is verified against them. */
  trustFiles?: TrustFiles | undefined;
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
  documents: Array<{ part: string; type: DocumentType; author?: AuthorClaim }>;
  /**
   * Present when some recipients read S/MIME: their copy. `sealed` above is then the medgate/1
   * OpenPGP copy for the others and for the sender's Sent folder (issue 15: once per format).
   */
  smime?: SmimeCopy;
}

function headerDate(value: string | undefined): string {
  const d = value ? new Date(value) : new Date();
  return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString().slice(0, 10);
}

/** What the seal needs besides the keys: the routing header and what the gateway learned. */
type SubmissionFacts = Omit<SealedSubmission, 'sealed' | 'messageId' | 'alreadyEncrypted' | 'smime'>;

/**
 * The extraction input of a message: parsed with each forwarded message (message/rfc822) as one
 * opaque document, described by src/message/forwarded-author.ts (its type, title, and its verified
 * signer or the author it only names). A message on disk larger than FORWARD_VIEW_MAX is parsed as
 * before (its forwarded messages' parts are documents of their own, with no author).
 */
async function extractionOf(raw: Buffer | undefined, parse: () => Promise<ExtractionInput>, req: Omit<SubmissionToSeal, 'raw'>): Promise<{ input: ExtractionInput; forwarded?: Map<string, ForwardedDocument> }> {
  const view = raw ? await forwardedView(raw) : undefined;
  if (!view) return { input: await parse() };
  const input = await parseSubmission(view.raw);
  return { input, forwarded: await describeForwardedParts(input, view.forwarded, req.trustFiles) };
}

function describeSubmission({ input, forwarded }: { input: ExtractionInput; forwarded?: Map<string, ForwardedDocument> }, req: Omit<SubmissionToSeal, 'raw'>): SubmissionFacts {
  const extraction = extractPatientIdentity(input);
  const classification = classifyMessage({ input, xdm: extraction.xdm, hprim: extraction.hprim, sender: req.senderEntry, ...(forwarded ? { forwarded } : {}) });
  const p = extraction.patient;
  const e = req.senderEntry;
  // The title names the document; the patient tag of the subject names the patient, and stays out of it.
  const title = input.subject ? titleWithoutSubjectTag(input.subject).slice(0, 200) : '';
  const routing: RoutingInput = {
    messageId: input.headers.get('message-id') ?? '',
    patient: p ? {
      familyName: p.familyName, givenName: p.givenName, birthDate: p.birthDate,
      ...(p.sex ? { sex: p.sex } : {}), ...(p.ins ? { ins: { value: p.ins.value, oid: p.ins.oid } } : {}),
    } : null,
    document: {
      type: classification.type,
      date: headerDate(input.headers.get('date')),
      ...(title ? { title } : {}),
    },
    sender: {
      address: req.senderAddress, nationalId: e.nationalId, professionCode: e.professionCode,
      professionLabel: e.professionLabel, specialtyCode: e.specialtyCode, role: roleOf(e),
    },
    recipients: req.recipients.map((r) => r.address),
    documents: classification.documents.map((d) => {
      const own = d.title ?? partTitle(d.part, classification.documents.length, input);
      return { part: d.part, type: d.type, ...(own ? { title: own.slice(0, 200) } : {}), ...(d.author ? { author: d.author } : {}), ...(d.writtenAs ? { writtenAs: d.writtenAs } : {}) };
    }),
  };
  const mdnTo = receiptAddress(input.headers.get('disposition-notification-to'));
  if (mdnTo) routing.mdnTo = mdnTo;
  if (req.transport) routing.transport = req.transport;
  return {
    routing, patient: p, conflicts: extraction.conflicts, documentType: classification.type,
    documents: classification.documents.map((d) => ({ part: d.part, type: d.type, ...(d.author ? { author: d.author } : {}) })),
  };
}

/**
 * The title of an attachment among several documents: its file name without the extension ("ECG",
 * "CRH_pneumologie"), not the subject, which names the message (a résumé sent with an ECG: the ECG
 * is not titled "Résumé médical"). A lone document, and the body, keep the subject's title.
 */
function partTitle(part: string, documents: number, input: ExtractionInput): string | undefined {
  if (part === 'body' || documents < 2) return undefined;
  const att = input.attachments.find((a) => a.filename === part);
  return att?.filename ? att.filename.replace(/\.[A-Za-z0-9]{1,8}$/, '').trim() || undefined : undefined;
}

/**
 * The address of a read-receipt request (RFC 8098 §2.1 `Disposition-Notification-To`): the first
 * mailbox, lower-cased; none when the field is absent or names no address. Whether a receipt is
 * then sent automatically is the record server's gateway's decision (src/filing/receipts).
 */
const ADDR_SPEC = /^[^\s\x00-\x1f\x7f<>()\[\],;:"\\@]+@[^\s\x00-\x1f\x7f<>()\[\],;:"\\@]+$/;

export function receiptAddress(value: string | undefined): string | undefined {
  if (!value || value.length > MAX_ADDRESS_FIELD) return undefined;
  const first = addressparser(value, { flatten: true }).find((a) => a.address);
  const address = first?.address?.trim().toLowerCase();
  // addressparser returns what it could take for one ("<<<<a@b", "x y@z"): only an addr-spec is one.
  return address && address.length <= 320 && ADDR_SPEC.test(address) ? address : undefined;
}

function pgpRecipients(req: Omit<SubmissionToSeal, 'raw'>): RecipientToSeal[] {
  return req.recipients.filter((r) => r.format === 'openpgp');
}

/** Whether the client encrypted the message itself (§7): then everyone gets it as it came, in one copy. */
function clientEncrypted(head: Buffer, envelopeFrom: string): boolean {
  return planOuterLayer(splitHeaderBlock(head).header, envelopeFrom, undefined).alreadyEncrypted;
}

/**
 * The OpenPGP copy: its recipients (may be none: then it is only the sender's Sent copy) and the
 * sender. Client-encrypted input is that one copy for every recipient: its routing header is then
 * encrypted to every recipient that has an OpenPGP key.
 */
function sealKeys(req: Omit<SubmissionToSeal, 'raw'>, alreadyEncrypted: boolean) {
  const pgp = alreadyEncrypted ? req.recipients : pgpRecipients(req);
  return {
    signingKey: req.signingKey,
    // The sender's own copy (Sent folder); none at intake, where the signing key is the gateway's.
    recipientKeys: [...pgp.map((r) => r.publicKey).filter((k): k is openpgp.PublicKey => !!k), ...(req.transport ? [] : [req.signingKey.toPublic()])],
    filingKeys: pgp.map((r) => r.filingKey).filter((k): k is openpgp.PublicKey => !!k),
    envelope: { from: req.envelopeFrom, to: pgp.map((r) => r.address) },
  };
}

/**
 * The S/MIME copy for the recipients who read S/MIME, under the OpenPGP copy's outer Message-ID:
 * signed with the sender's certificate, enveloped to theirs and the sender's, the same routing
 * header (OpenPGP, to their gateways' filing keys). None when nobody reads S/MIME, or when the
 * client encrypted the message itself (it is never encrypted twice: everyone gets it as it came).
 */
async function smimeCopy(raw: Buffer, req: Omit<SubmissionToSeal, 'raw'>, routing: RoutingInput, messageId: string, alreadyEncrypted: boolean): Promise<SmimeCopy | undefined> {
  const smime = req.recipients.filter((r) => r.format === 'smime' && r.certificatePem);
  if (!smime.length || alreadyEncrypted) return undefined;
  if (!req.signerX509) throw new MedgateError('SMIME_SIGNER_MISSING', 'an S/MIME recipient needs the sender\'s X.509 certificate and key to sign');
  // Loaded on first use: the worker threads start (and serve OpenPGP) without pkijs' CMS code.
  const { sealSmime } = await import('../crypto/smime/index.js');
  const res = await sealSmime({
    raw, routing, signer: req.signerX509, routingSigningKey: req.signingKey,
    recipientCertsPem: [...smime.map((r) => r.certificatePem!), req.signerX509.certPem],
    // Their gateways' filing keys, and their own OpenPGP keys when they have one (patient folders).
    routingKeys: smime.flatMap((r) => [r.filingKey, r.publicKey]).filter((k): k is openpgp.PublicKey => !!k),
    envelope: { from: req.envelopeFrom, to: smime.map((r) => r.address) },
    outerMessageId: messageId,
  });
  return { sealed: res.sealed, recipients: smime.map((r) => r.address) };
}

/**
 * The CPU-heavy part of accepting a message, with no I/O: find the patient and the document type,
 * build the routing header from the sender's directory identity, sign and encrypt. Runs inline or
 * in a worker thread (src/message/worker).
 */
export async function sealSubmission(req: SubmissionToSeal): Promise<SealedSubmission> {
  const facts = describeSubmission(await extractionOf(req.raw, () => parseSubmission(req.raw), req), req);
  const result = await seal({ raw: req.raw, routing: facts.routing, ...sealKeys(req, clientEncrypted(req.raw, req.envelopeFrom)) });
  const smime = await smimeCopy(req.raw, req, facts.routing, result.messageId, result.alreadyEncrypted);
  return { ...facts, sealed: result.sealed, messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted, ...(smime ? { smime } : {}) };
}

/** A submission spooled to disk, sealed to a file: memory does not grow with the message (issue 4). */
export interface SubmissionFileToSeal extends Omit<SubmissionToSeal, 'raw'> {
  rawFile: RawSource;
  /** Created by the seal (0600, fsynced); the caller commits it to the store or removes it. */
  outFile: string;
}

export interface SealedSubmissionFile extends Omit<SealedSubmission, 'sealed'> {
  sealed: SealedFile;
}

export async function sealSubmissionFile(req: SubmissionFileToSeal): Promise<SealedSubmissionFile> {
  const whole = (await rawSize(req.rawFile)) <= FORWARD_VIEW_MAX ? await readRawWhole(req.rawFile) : undefined;
  const facts = describeSubmission(await extractionOf(whole, () => parseSubmissionFile(req.rawFile), req), req);
  const head = (await readRawHead(req.rawFile, HEAD_MAX)).head;
  const result = await sealFile({ rawFile: req.rawFile, outFile: req.outFile, routing: facts.routing, ...sealKeys(req, clientEncrypted(head, req.envelopeFrom)) });
  // CMS (pkijs) seals in memory: the S/MIME copy of a large message holds it whole (bounded by limits.maxMessageBytes).
  const smime = req.recipients.some((r) => r.format === 'smime') && !result.alreadyEncrypted
    ? await smimeCopy(await readRawWhole(req.rawFile), req, facts.routing, result.messageId, result.alreadyEncrypted)
    : undefined;
  return {
    ...facts, sealed: { path: req.outFile, size: result.size, sha256: result.sha256 },
    messageId: result.messageId, alreadyEncrypted: result.alreadyEncrypted, ...(smime ? { smime } : {}),
  };
}
