import { createHash } from 'node:crypto';
import type { GatewayContext } from '../../context.js';
import { verifyOuterLayers, type OuterLayers } from '../../crypto/smime/index.js';
import { isMedgateError } from '../../errors.js';
import { readTrustFiles, validateCertificate, type TrustMaterial } from '../../pki/index.js';
import { replies } from '../replies.js';

/**
 * End of DATA for S/MIME from a peer that does not write medgate/1 (a hospital's or an operator's
 * gateway, issue 15): there is no routing header, so the relay checks what it can see without any
 * recipient key, and the full verification happens when the recipient opens the message.
 *
 * - The content must be encrypted (an enveloped layer, under any signatures): the relay port takes
 *   no clear payload.
 * - Every signature above the envelope (enveloped-then-signed) is verified: CMS signature, chain to
 *   the health PKI anchors with CRLs, the From address in the certificate, an active directory
 *   entry; its signer must be the envelope sender.
 * - With the signature inside the envelope (signed-then-enveloped), the sender's certificate in the
 *   directory, when there is one, is checked against the CRLs: a revoked signer is refused here as
 *   for OpenPGP.
 * - A record server files by the routing header only: S/MIME to one is refused.
 */
export async function checkSmimeMessage(ctx: GatewayContext, message: Buffer, from: string, recipients: string[]): Promise<{ messageId: string; denied?: undefined }> {
  for (const r of recipients) if (await ctx.directory.isRecordServer(r)) throw replies.relaySmimeToRecordServer();
  const sealer = await ctx.sealer();
  let trust: TrustMaterial;
  let outer: OuterLayers;
  try {
    trust = readTrustFiles(ctx.config.pki.trustAnchors, ctx.config.pki.crls);
    outer = await verifyOuterLayers({
      sealed: message, resolveSigner: sealer.resolveX509Signer,
      trust: { anchorsPem: trust.anchorsPem, ...(trust.crlsPem.length ? { crlsPem: trust.crlsPem } : {}) },
    });
  } catch (err) {
    // No trust anchor or no current CRL here: temporary, the peer retries (docs/operations.md).
    if (isMedgateError(err) && (err.code === 'SIGNER_UNCHECKED' || err.code === 'PKI_TRUST_UNAVAILABLE')) throw replies.relaySmimeUnchecked();
    if (isMedgateError(err)) throw replies.relaySmimeRefused(err.code);
    throw err;
  }
  if (!outer.encrypted) throw replies.relayNotEncrypted();
  if (outer.verification) {
    if (outer.verification.signer.toLowerCase() !== from) throw replies.relaySmimeRefused('SIGNER_NOT_ENVELOPE_SENDER');
  } else {
    await checkDirectoryCertificate(ctx, from, trust);
  }
  const messageId = sealer.inspect(message).outerHeaders.find(([k]) => k.toLowerCase() === 'message-id')?.[1];
  // Without a Message-ID the content digest is the idempotence key (a re-sent copy is not placed twice).
  return { messageId: messageId ?? `<${createHash('sha256').update(message).digest('hex').slice(0, 40)}@smime.${ctx.config.domain}>` };
}

/** The envelope sender's directory certificate, if any, must not be revoked. */
async function checkDirectoryCertificate(ctx: GatewayContext, from: string, trust: TrustMaterial): Promise<void> {
  const entry = await ctx.directory.lookup(from);
  if (!entry?.certificatePem) return;
  const v = await validateCertificate(entry.certificatePem, {
    trustAnchorsPem: trust.anchorsPem, purpose: 'user', ...(trust.crlsPem.length ? { crlsPem: trust.crlsPem } : {}),
  });
  if (!v.ok && v.code === 'revoked') throw replies.relaySmimeRefused('SIGNER_REVOKED');
  if (!v.ok && v.code === 'revocation-unavailable') throw replies.relaySmimeUnchecked();
}
