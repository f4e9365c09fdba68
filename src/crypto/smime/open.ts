/**
 * openSmime(): an S/MIME message (RFC 8551) → the original message and the verdict. Layers are
 * peeled in whatever order they come (enveloped then signed, signed then enveloped, opaque
 * application/pkcs7-mime or detached multipart/signed signatures). The signer's certificate chain is
 * validated against the health PKI anchors and CRLs (src/pki/validate.ts, as for TLS client
 * certificates), it must name the message's From address, and the directory must list that address
 * as active. medgate/1 messages with an S/MIME body also carry the OpenPGP routing header, opened
 * and bound to the content when the caller has a key for it.
 */
import { createHash } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { derToPem, validateCertificate } from '../../pki/index.js';
import { CryptoError, CryptoErrorCode, isCryptoError } from '../errors.js';
import { listFieldSpans, splitHeaderBlock } from '../seal/header-block.js';
import { addressesOf, firstValue } from '../seal/header-values.js';
import { INNER_MARKER_FIELD, restoreOriginal } from '../seal/inner-entity.js';
import { FORMAT_FIELD } from '../seal/outer-message.js';
import { openRoutingHeader, type OpenResult } from '../seal/open.js';
import type { ResolveSigner, Verification } from '../seal/pgp.js';
import type { RoutingHeader } from '../seal/routing-header.js';
import { openEnveloped, readContentInfo, verifySigned, type SignedContent } from './cms.js';
import { readSmimeLayer } from './mime.js';
import type { X509Credential } from './seal.js';

/** What the directory says of a signer's address. */
export type ResolveX509Signer = (address: string) => Promise<{ status: 'active' | 'suspended' | 'revoked'; identity?: Record<string, unknown> } | undefined>;

export interface SmimeOpenOptions {
  sealed: Buffer;
  /** The reader's certificate and key (for enveloped messages). */
  recipient?: X509Credential;
  trust: { anchorsPem: string[]; crlsPem?: string[]; at?: Date };
  resolveSigner: ResolveX509Signer;
  /**
   * SHA-256 of the signer certificate that verified when the reader first opened the message:
   * pinned, so a later revocation (CRL, directory) keeps old mail readable, as OpenPGP mail does.
   * The signature and the chain are still checked.
   */
  pinnedCertificate?: string | null;
  /** Opens the medgate routing header when the message carries one encrypted to this key. */
  routing?: { decryptionKey: openpgp.PrivateKey; resolveSigner: ResolveSigner };
}

export interface SmimeOpenResult extends OpenResult {
  encrypted: boolean;
  signature: 'opaque' | 'detached';
}

const MAX_LAYERS = 6;

/** Whether a message's top-level entity is S/MIME (pkcs7-mime or multipart/signed with a CMS signature). */
export function isSmimeMessage(raw: Buffer): boolean {
  try {
    return readSmimeLayer(raw).kind !== 'other';
  } catch {
    return false;
  }
}

function toCrlfCanonical(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** The message the signed entity stands for: RFC 9788 payloads carry their own header; legacy ones take the outer one. */
function messageOf(entity: Buffer, outer: Buffer): Buffer {
  const { header } = splitHeaderBlock(entity);
  if (firstValue(header, INNER_MARKER_FIELD) !== undefined) return restoreOriginal(entity);
  if (firstValue(header, 'from') !== undefined) return entity;
  const outerHeader = splitHeaderBlock(outer).header;
  const kept = listFieldSpans(outerHeader)
    .filter((f) => !/^(content-|mime-version$|x-medgate-)/i.test(f.name))
    .map((f) => outerHeader.subarray(f.start, f.end));
  return Buffer.concat([...kept, entity]);
}

async function checkSigner(signed: SignedContent, from: string | undefined, opts: Pick<SmimeOpenOptions, 'trust' | 'resolveSigner' | 'pinnedCertificate'>): Promise<Verification> {
  const chain = [signed.signerCertDer, ...signed.otherCertsDer].map((d) => derToPem(d, 'CERTIFICATE')).join('');
  const fingerprint = createHash('sha256').update(signed.signerCertDer).digest('hex');
  const details = { signer: from, certificate: fingerprint };
  const pinned = !!opts.pinnedCertificate && opts.pinnedCertificate === fingerprint;
  const v = await validateCertificate(chain, {
    trustAnchorsPem: opts.trust.anchorsPem, purpose: 'user',
    ...(opts.trust.crlsPem && !pinned ? { crlsPem: opts.trust.crlsPem } : {}), ...(opts.trust.at ? { at: opts.trust.at } : {}),
  });
  if (!v.ok) {
    if (v.code === 'revoked') throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, 'The signer\'s certificate is revoked', { ...details, status: 'revoked' });
    if (v.code === 'revocation-unavailable') throw new CryptoError(CryptoErrorCode.SIGNER_UNCHECKED, `The signer's certificate cannot be checked for revocation now: ${v.reason}`, { ...details, code: v.code });
    throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, `The signer's certificate is not acceptable (${v.code}): ${v.reason}`, { ...details, code: v.code });
  }
  if (!from) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, 'The signed message names no From address', details);
  if (!v.emails.some((e) => e.toLowerCase() === from)) {
    throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, 'The signer\'s certificate does not name the From address', { ...details, certificateEmails: v.emails });
  }
  const resolved = await opts.resolveSigner(from);
  if (!resolved) throw new CryptoError(CryptoErrorCode.SIGNER_UNKNOWN, 'The signer of the message is not in the directory', details);
  if (resolved.status !== 'active' && !pinned) {
    throw new CryptoError(CryptoErrorCode.SIGNER_REVOKED, `The signer of the message is ${resolved.status}`, { ...details, status: resolved.status });
  }
  const verification: Verification = { valid: true, signer: from, fingerprint };
  if (resolved.identity !== undefined) verification.identity = resolved.identity;
  return verification;
}

async function routingOf(opts: SmimeOpenOptions, signedContent: Uint8Array, verification: Verification): Promise<RoutingHeader | null> {
  if (!opts.routing || firstValue(splitHeaderBlock(opts.sealed).header, FORMAT_FIELD) === undefined) return null;
  let r;
  try {
    r = await openRoutingHeader({ sealed: opts.sealed, decryptionKey: opts.routing.decryptionKey, resolveSigner: opts.routing.resolveSigner });
  } catch (err) {
    if (isCryptoError(err, CryptoErrorCode.NOT_FOR_THIS_KEY) || isCryptoError(err, CryptoErrorCode.ROUTING_MISSING)) return null;
    throw err;
  }
  if (r.routing.contentDigest !== createHash('sha256').update(signedContent).digest('hex')) {
    throw new CryptoError(CryptoErrorCode.ROUTING_CONTENT_MISMATCH, 'The routing header belongs to another message (content digest differs)');
  }
  if (r.verification.signer.toLowerCase() !== verification.signer) {
    throw new CryptoError(CryptoErrorCode.ROUTING_CONTENT_MISMATCH, 'The routing header and the content were signed by different senders', {
      contentSigner: verification.signer, routingSigner: r.verification.signer,
    });
  }
  return r.routing;
}

/** A detached signature (multipart/signed), verified over the first part as it came, else over its CRLF canonical form. */
async function verifyDetached(layer: Extract<ReturnType<typeof readSmimeLayer>, { kind: 'multipart-signed' }>): Promise<SignedContent> {
  const ci = readContentInfo(layer.signatureDer, 'signature');
  if (ci.kind !== 'signed') throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'The multipart/signed signature part is not CMS SignedData');
  try {
    return await verifySigned(ci.content, layer.content, 'message');
  } catch (err) {
    // RFC 8551 §3.1.1: the signed part is canonical (CRLF); a relay may have turned it into LF.
    const canonical = toCrlfCanonical(layer.content);
    if (!isCryptoError(err, CryptoErrorCode.SIGNATURE_INVALID) || canonical.equals(layer.content)) throw err;
    return verifySigned(ci.content, canonical, 'message');
  }
}

export async function openSmime(opts: SmimeOpenOptions): Promise<SmimeOpenResult> {
  let entity = opts.sealed;
  let encrypted = false;
  let signed: SignedContent | undefined;
  let signature: 'opaque' | 'detached' = 'opaque';
  for (let depth = 0; depth < MAX_LAYERS; depth++) {
    const layer = readSmimeLayer(entity);
    if (layer.kind === 'other') break;
    if (layer.kind === 'multipart-signed') {
      signed = await verifyDetached(layer);
      signature = 'detached';
      entity = layer.content;
      continue;
    }
    const ci = readContentInfo(layer.der, 'message');
    if (ci.kind === 'enveloped') {
      if (!opts.recipient) throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, 'The message is encrypted and no certificate was given to open it');
      entity = Buffer.from(await openEnveloped(ci.content, opts.recipient, 'message'));
      encrypted = true;
    } else {
      signed = await verifySigned(ci.content, undefined, 'message');
      signature = 'opaque';
      entity = Buffer.from(signed.content);
    }
  }
  if (!signed) throw new CryptoError(CryptoErrorCode.SIGNATURE_INVALID, 'The message is not signed');
  const raw = messageOf(entity, opts.sealed);
  const from = addressesOf(splitHeaderBlock(raw).header, 'from')[0]?.toLowerCase();
  const verification = await checkSigner(signed, from, opts);
  const routing = await routingOf(opts, signed.content, verification);
  return { raw, routing, verification, encrypted, signature };
}

export interface OuterLayers {
  /** An enveloped layer was reached (the content is encrypted). */
  encrypted: boolean;
  /** The signature(s) above it, verified (chain, CRL, From, directory), when there is one. */
  verification: Verification | undefined;
}

/**
 * What a gateway on the path can check of an S/MIME message without any recipient key: the
 * signature layers above the first enveloped one (enveloped-then-signed), verified exactly as
 * openSmime() does, and whether the content is encrypted at all. A signature inside the envelope
 * is only checked when the recipient opens the message.
 */
export async function verifyOuterLayers(opts: Pick<SmimeOpenOptions, 'sealed' | 'trust' | 'resolveSigner'>): Promise<OuterLayers> {
  let entity = opts.sealed;
  let signed: SignedContent | undefined;
  let encrypted = false;
  for (let depth = 0; depth < MAX_LAYERS && !encrypted; depth++) {
    const layer = readSmimeLayer(entity);
    if (layer.kind === 'other') break;
    if (layer.kind === 'multipart-signed') {
      signed = await verifyDetached(layer);
      entity = layer.content;
      continue;
    }
    const ci = readContentInfo(layer.der, 'message');
    if (ci.kind === 'enveloped') encrypted = true;
    else {
      signed = await verifySigned(ci.content, undefined, 'message');
      entity = Buffer.from(signed.content);
    }
  }
  if (!signed) return { encrypted, verification: undefined };
  const from = addressesOf(splitHeaderBlock(messageOf(entity, opts.sealed)).header, 'from')[0]?.toLowerCase();
  return { encrypted, verification: await checkSigner(signed, from, opts) };
}
