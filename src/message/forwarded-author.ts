/**
 * What a forwarded message (message/rfc822, src/message/forwarded.ts) is as a document of the
 * forwarding doctor's message: its type and title (classified from its own subject and text), and
 * its author.
 *
 * - S/MIME-signed and not encrypted: the signature is verified here, where the bytes are, exactly
 *   as the relay and the MSSanté intake verify one (src/crypto/smime/open.ts verifyOuterLayers: CMS
 *   signature, chain to the health PKI anchors, CRLs, the From address in the certificate). The
 *   claim `{source: 'smime', id: signer}` goes into the routing header; every gateway that judges
 *   it then requires the signer to be an active entry of its own directory (src/filing/authors.ts).
 * - Anything else (no signature, a signature that does not verify, revocation data missing, an
 *   encrypted message, no PKI configured): the claim `{source: 'forwarded', name: its From}` —
 *   never verifiable, so the document is filed "transmitted by <sender>, author not verified",
 *   not refused.
 *
 * Only a medgate/1 message's own signature is not checked here: what a doctor's mail client
 * forwards of one is the message as the gateway opened it (the original, signature removed; the
 * verdict fields above it are the gateway's text and a copy can carry any), so it is a forwarded
 * message without a verifiable signature.
 */
import { readSmimeLayer } from '../crypto/smime/mime.js';
import { splitHeaderBlock } from '../crypto/seal/header-block.js';
import { addressesOf } from '../crypto/seal/header-values.js';
import { readTrustFiles } from '../pki/trust-files.js';
import { titleWithoutSubjectTag } from './identity/subject-tag.js';
import { attachmentLabel } from './identity/xdm.js';
import { classifyMessage, type AuthorClaim, type DocumentType } from './classify/index.js';
import { FORWARDED_TYPE, type ForwardedMessage } from './forwarded.js';
import type { ExtractionInput } from './parse.js';
import { parseSubmission } from './parse-submission.js';

/** The health PKI's trust files (config `pki.trustAnchors`, `pki.crls`). */
export interface TrustFiles {
  anchors: string[];
  crls: string[];
}

export interface ForwardedDocument {
  type: DocumentType;
  reason: string;
  title?: string;
  author: AuthorClaim;
}

const SIGNATURE_PART = /^application\/(x-)?pkcs7-(signature|mime)$/i;

/** Each forwarded attachment of `input` (by part label) described; `forwarded` in the order of the view. */
export async function describeForwardedParts(input: ExtractionInput, forwarded: ForwardedMessage[], trust: TrustFiles | undefined): Promise<Map<string, ForwardedDocument>> {
  const out = new Map<string, ForwardedDocument>();
  let next = 0;
  for (const [index, att] of input.attachments.entries()) {
    if (att.contentType !== FORWARDED_TYPE) continue;
    const message = forwarded[next++];
    if (message) out.set(attachmentLabel(att, index), await describeForwarded(message.bytes, trust));
  }
  return out;
}

export async function describeForwarded(bytes: Buffer, trust: TrustFiles | undefined): Promise<ForwardedDocument> {
  const from = forwardedFrom(bytes);
  const author = (await verifiedSigner(bytes, trust)) ?? { source: 'forwarded' as const, ...(from ? { name: from } : {}) };
  let input: ExtractionInput | undefined;
  try {
    input = await parseSubmission(bytes);
  } catch {
    input = undefined;
  }
  if (!input) return { type: 'other', reason: 'forwarded message (unreadable)', author };
  // The signature parts say nothing of the document.
  const content: ExtractionInput = { ...input, attachments: input.attachments.filter((a) => !SIGNATURE_PART.test(a.contentType)) };
  const c = classifyMessage({ input: content });
  const title = input.subject ? titleWithoutSubjectTag(input.subject).slice(0, 200) : '';
  return { type: c.type, reason: `forwarded message: ${c.reason}`, ...(title ? { title } : {}), author };
}

/** The From a forwarded message shows; none when it has none or one too long to read as an address list. */
function forwardedFrom(bytes: Buffer): string | undefined {
  try {
    return addressesOf(splitHeaderBlock(bytes).header, 'from')[0]?.toLowerCase();
  } catch {
    return undefined;
  }
}

/** The signer of an S/MIME-signed, unencrypted message, when its signature and chain verify. */
async function verifiedSigner(bytes: Buffer, trust: TrustFiles | undefined): Promise<AuthorClaim | undefined> {
  if (!trust || !isSmime(bytes)) return undefined;
  try {
    const material = readTrustFiles(trust.anchors, trust.crls);
    // Loaded here, not with this module: pkijs and @peculiar/x509 weigh ~10 MB in every sealing
    // thread, and only a forwarded S/MIME-signed message needs them (issue 31, memory).
    const { verifyOuterLayers } = await import('../crypto/smime/index.js');
    const outer = await verifyOuterLayers({
      sealed: bytes,
      trust: { anchorsPem: material.anchorsPem, ...(material.crlsPem.length ? { crlsPem: material.crlsPem } : {}) },
      // The directory is the judging gateway's (src/filing/authors.ts): here, only the signature and the PKI.
      resolveSigner: async () => ({ status: 'active' }),
    });
    if (outer.encrypted || !outer.verification?.valid) return undefined;
    return { source: 'smime', id: outer.verification.signer.toLowerCase() };
  } catch {
    return undefined;
  }
}

/** isSmimeMessage (src/crypto/smime/open.ts) without loading the CMS code: the entity's type alone. */
function isSmime(raw: Buffer): boolean {
  try {
    return readSmimeLayer(raw).kind !== 'other';
  } catch {
    return false;
  }
}
