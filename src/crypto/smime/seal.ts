/**
 * sealSmime(): the original message → medgate/1 with an S/MIME body (RFC 8551): the RFC 9788
 * cryptographic payload (the whole original message, patient header and Subject included, the
 * same inner entity as the PGP/MIME seal) signed as opaque CMS SignedData with the sender's X.509
 * certificate, that signed entity enveloped (CMS EnvelopedData, AES-256-CBC) to every recipient
 * certificate. The outer header is the same clear transport layer as medgate/1, and the routing
 * header the same OpenPGP carrier (signed by the sender's OpenPGP key, encrypted to the filing keys
 * and the sender's own key), its digest covering the signed payload.
 */
import { createHash } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { splitHeaderBlock } from '../seal/header-block.js';
import { buildInnerEntity } from '../seal/inner-entity.js';
import { headerBlock } from '../seal/outer-message.js';
import { signAndEncrypt, uniqueKeys } from '../seal/pgp.js';
import { sealedRoutingHeader, type RoutingInput } from '../seal/routing-header.js';
import { planOuterLayer } from '../seal/seal-parts.js';
import type { SealResult } from '../seal/seal.js';
import { envelopContent, signContent } from './cms.js';
import { base64Lines, pkcs7MimeEntity, pkcs7MimeFields } from './mime.js';

export interface X509Credential {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface SmimeSealOptions {
  raw: Buffer;
  routing: RoutingInput;
  /** The sender's certificate and key: signs the content. */
  signer: X509Credential;
  /** The sender's OpenPGP key: signs the routing header (as in medgate/1). */
  routingSigningKey: openpgp.PrivateKey;
  /** Every recipient's X.509 encryption certificate, plus the sender's own for the Sent copy. */
  recipientCertsPem: string[];
  /** Keys that open the routing header: the recipients' gateways' filing keys (the sender's own key is added). */
  routingKeys: openpgp.PublicKey[];
  envelope: { from: string; to: string[] };
  outerSubject?: string;
  outerMessageId?: string;
}

export async function sealSmime(opts: SmimeSealOptions): Promise<SealResult> {
  if (opts.recipientCertsPem.length === 0) throw new Error('sealSmime: at least one recipient certificate is required');
  const { header } = splitHeaderBlock(opts.raw);
  const { alreadyEncrypted, messageId, transport } = planOuterLayer(header, opts.envelope.from, opts.outerSubject, opts.outerMessageId);
  // Client-encrypted input is never encrypted twice: the PGP/MIME seal() carries it with its routing header.
  if (alreadyEncrypted) throw new Error('sealSmime: the message is already encrypted; seal() keeps it as it is');

  const payload = buildInnerEntity(opts.raw, { fields: transport });
  const contentDigest = createHash('sha256').update(payload).digest('hex');
  const routing = sealedRoutingHeader(opts.routing, contentDigest, new Date().toISOString());
  const routingKeys = uniqueKeys([...opts.routingKeys, opts.routingSigningKey.toPublic()]);

  const [enveloped, routingCiphertext] = await Promise.all([
    signContent(payload, opts.signer).then((signed) => envelopContent(pkcs7MimeEntity('signed-data', signed), opts.recipientCertsPem)),
    signAndEncrypt(Buffer.from(JSON.stringify(routing), 'utf8'), opts.routingSigningKey, routingKeys, 'binary'),
  ]);
  const head = headerBlock(transport, 'smime', routingCiphertext, pkcs7MimeFields('enveloped-data'));
  return { sealed: Buffer.from(head + '\r\n' + base64Lines(enveloped), 'utf8'), messageId, alreadyEncrypted: false };
}
