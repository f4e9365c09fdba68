/**
 * MSSanté intake (issue 28 item 1): a plain MIME message an operator relays to this gateway over
 * verified mutual TLS is sealed on arrival, before the 250, through the submission sealing path
 * (MessageSealer.seal → sealSubmission): to each recipient's key, to the filing key for a record
 * server, the patient header fields inside the encryption (RFC 9788), the routing header stating the
 * transport facts and signed with this gateway's intake key. The clear bytes exist only in memory,
 * here and in the sealing worker; what is stored and delivered is the sealed message.
 */
import { createHash } from 'node:crypto';
import type { GatewayContext } from '../../context.js';
import type { Transport } from '../../crypto/seal/index.js';
import { splitHeaderBlock } from '../../crypto/seal/header-block.js';
import { addressesOf } from '../../crypto/seal/header-values.js';
import { isSmimeHeader, verifyOuterLayers } from '../../crypto/smime/index.js';
import { readSmimeLayer } from '../../crypto/smime/mime.js';
import { isMedgateError, MedgateError } from '../../errors.js';
import type { OpenPgpRecipient } from '../../message/sealer.js';
import { readTrustFiles } from '../../pki/index.js';
import type { DirectoryEntry } from '../../store/types.js';
import type { PeerIdentity } from '../relay/peer-certificate.js';
import { checkRecordServerRules, type RelayDenial } from '../relay/relay-checks.js';
import { replies, replyForError } from '../replies.js';

export interface IntakeRequest {
  raw: Buffer;
  from: string;
  recipients: string[];
  peer: Extract<PeerIdentity, { ok: true }>;
  /** The sender's domain: whitelisted and named by the peer's certificate (checked at MAIL FROM). */
  peerDomain: string;
}

export interface SealedIntake {
  sealed: Buffer;
  /** Outer Message-ID of the sealed copy. */
  messageId: string;
  /** sha256 of the bytes the operator sent: a retry after a lost 250 is the same delivery. */
  idempotenceKey: string;
  endToEnd: string;
  denied?: RelayDenial;
}

/**
 * Whether a message that is not medgate/1 is taken at intake: it must not be encrypted (an
 * enveloped S/MIME message goes the relay's S/MIME path), and its sender must have no medgate/1 key
 * in the directory. A medgate gateway always seals, so plain mail in the name of one of its users is
 * a downgrade (`downgrade`: refused with `Only sealed`, saying why and how to send it); `unlisted`:
 * the entry is gone since MAIL FROM.
 */
export async function intakeDecision(ctx: GatewayContext, from: string): Promise<'intake' | 'downgrade' | 'unlisted'> {
  const entry = await ctx.directory.lookup(from);
  if (!entry) return 'unlisted';
  return entry.pgpPublicKey ? 'downgrade' : 'intake';
}

/** What a whole message must have to be sealed: a header block with a From field. */
function checkWellFormed(raw: Buffer): void {
  const { header, separator } = splitHeaderBlock(raw);
  if (!separator.length) throw replies.malformed('no blank line ends the header block');
  if (!/^from\s*:/im.test(header.toString('latin1'))) throw replies.malformed('no From header field');
  if (!addressesOf(header, 'from').length) throw replies.malformed('the From header field names no address');
}

/**
 * The end-to-end signature the content carries: `none` for plain MIME; for S/MIME signed but not
 * enveloped, the verified result (chain to the health PKI with CRLs, From in the certificate, the
 * directory) or why it failed. Undefined: the message is encrypted S/MIME, not for intake.
 */
export async function endToEndSignature(ctx: GatewayContext, raw: Buffer, smime: boolean): Promise<string | undefined> {
  if (!smime) return 'none';
  const sealer = await ctx.sealer();
  const trust = readTrustFiles(ctx.config.pki.trustAnchors, ctx.config.pki.crls);
  try {
    const outer = await verifyOuterLayers({
      sealed: raw, resolveSigner: sealer.resolveX509Signer,
      trust: { anchorsPem: trust.anchorsPem, ...(trust.crlsPem.length ? { crlsPem: trust.crlsPem } : {}) },
    });
    if (outer.encrypted) return undefined;
    if (!outer.verification) return 'none';
    return `valid; signer=${outer.verification.signer}; fingerprint=${outer.verification.fingerprint}`;
  } catch (err) {
    if (!isMedgateError(err)) throw err;
    // Revocation data missing or stale: not a verdict to seal in for good, but a temporary 451
    // (the operator retries), as on the relay's own S/MIME path (smime-checks.ts).
    if (err.code === 'SIGNER_UNCHECKED' || err.code === 'PKI_TRUST_UNAVAILABLE') throw replies.relaySmimeUnchecked();
    // Signed over an enveloped layer and invalid: the relay's S/MIME path refuses it, precisely.
    const top = readSmimeLayer(raw);
    if (top.kind !== 'multipart-signed' || isSmimeHeader(top.content)) return undefined;
    return `invalid (${err.code})`;
  }
}

function senderFacts(entry: DirectoryEntry): Transport['sender'] {
  const name = [entry.givenName, entry.familyName].filter(Boolean).join(' ');
  return { address: entry.address, ...(name ? { name } : {}), ...(entry.organisation ? { organisation: entry.organisation } : {}) };
}

/** Seals an operator's message for its recipients; refusals are SmtpReplies (nothing is stored). */
export async function sealIntake(ctx: GatewayContext, req: IntakeRequest, endToEnd: string): Promise<SealedIntake> {
  checkWellFormed(req.raw);
  const sealer = await ctx.sealer();
  const entry = await ctx.directory.lookup(req.from);
  if (!entry || entry.status !== 'active') throw replies.relaySenderNotActive(req.from);
  const recipients: OpenPgpRecipient[] = [];
  for (const address of req.recipients) {
    const r = await sealer.resolveRecipient(address);
    // Local mailboxes were checked at RCPT TO; one without a key cannot be sealed to.
    if (!r.ok) throw replies.relayRecipientNotLocal(address);
    recipients.push(r);
  }
  // The sealer's own copy, loaded once (not read from disk per message): the key it verifies with.
  const intakeKey = sealer.intakeSigningKey;
  if (!intakeKey) throw new MedgateError('INTAKE_KEY_MISSING', 'this gateway has no MSSante intake key loaded');
  const transport: Transport = {
    kind: 'mssante', peerSubject: req.peer.subject, peerFingerprint: req.peer.fingerprint256,
    peerDomain: req.peerDomain, sender: senderFacts(entry), endToEnd,
  };
  let sealed: Awaited<ReturnType<typeof sealer.seal>>;
  try {
    sealed = await sealer.seal({
      raw: req.raw, sender: { address: req.from, pgpKey: intakeKey, entry },
      recipients, envelopeFrom: req.from, transport,
    });
  } catch (err) {
    // A message that cannot be read (MIME, XDM) is the operator's to fix: 554 with the reason, as
    // at submission; anything else stays a temporary failure (the operator retries).
    const reply = replyForError(err, { maxMessageBytes: ctx.config.limits.maxMessageBytes });
    if (reply.responseCode >= 500) throw reply;
    throw err;
  }
  // A record server files by the routing header: the patient and the sender's rights, as for a peer's mail.
  const denied = await checkRecordServerRules(ctx, sealed.routing, req.from, req.recipients);
  const idempotenceKey = `intake-${createHash('sha256').update(req.raw).digest('hex')}`;
  return { sealed: sealed.sealed, messageId: sealed.messageId, idempotenceKey, endToEnd, ...(denied ? { denied } : {}) };
}
