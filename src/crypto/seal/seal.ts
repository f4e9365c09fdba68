/** seal(): the original message → medgate/1 (PGP/MIME, RFC 9788 header protection, routing header). */
import { createHash } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { listFieldSpans, splitHeaderBlock } from './header-block.js';
import { addressesOf, firstValue, isEncryptedContentType, parseContentType } from './header-values.js';
import { buildInnerEntity } from './inner-entity.js';
import { DEFAULT_OUTER_SUBJECT, headerBlock, newMessageId, pgpMimeMessage, transportFieldList } from './outer-message.js';
import { signAndEncrypt, uniqueKeys } from './pgp.js';
import { armorMessageBytes } from './radix64.js';
import { sealedRoutingHeader, type RoutingInput } from './routing-header.js';
import { formatRfc5322Date } from './rfc5322-date.js';

export interface SealOptions {
  /** The original RFC 5322 message as submitted. */
  raw: Buffer;
  routing: RoutingInput;
  /** The sender's decrypted private key. */
  signingKey: openpgp.PrivateKey;
  /** Every recipient's key, plus the sender's own key for the Sent copy. */
  recipientKeys: openpgp.PublicKey[];
  /** Filing keys of the recipients' gateways: they open the routing header only. */
  filingKeys: openpgp.PublicKey[];
  envelope: { from: string; to: string[] };
  /** Outer Subject; default "[...]" (RFC 9788). */
  outerSubject?: string;
}

export interface SealResult {
  sealed: Buffer;
  /** The outer Message-ID (always freshly generated; the original one stays inside). */
  messageId: string;
  alreadyEncrypted: boolean;
}

/** Header fields of a client-encrypted message that describe its (kept) body. */
const BODY_FIELDS = new Set(['content-type', 'content-transfer-encoding', 'content-disposition', 'content-description', 'content-id']);

export async function seal(opts: SealOptions): Promise<SealResult> {
  if (opts.recipientKeys.length === 0) throw new Error('seal: at least one recipient key is required');
  const { header, body } = splitHeaderBlock(opts.raw);
  const spans = listFieldSpans(header);
  const alreadyEncrypted = isEncryptedContentType(parseContentType(header, spans));

  const from = addressesOf(header, 'from', spans)[0] ?? opts.envelope.from;
  const messageId = newMessageId(from);
  // Bcc is never copied out; display names are dropped (they may name a patient or a service).
  const transport = transportFieldList({
    from,
    to: addressesOf(header, 'to', spans),
    cc: addressesOf(header, 'cc', spans),
    date: formatRfc5322Date(parseDate(firstValue(header, 'date', spans))),
    messageId,
    subject: opts.outerSubject ?? DEFAULT_OUTER_SUBJECT,
  });

  const payload = alreadyEncrypted ? body : buildInnerEntity(opts.raw, { fields: transport });
  const contentDigest = createHash('sha256').update(payload).digest('hex');
  const routing = sealedRoutingHeader(opts.routing, contentDigest, new Date().toISOString());
  const routingKeys = uniqueKeys([...opts.recipientKeys, ...opts.filingKeys]);

  // Both operations run at once: most of their time is WebCrypto steps (X25519, Ed25519, AES-KW) that
  // wait on the libuv thread pool, and one operation's JavaScript runs during the other's waits.
  // The content operation, the longer one, starts first, and its ciphertext is armored as soon as it
  // is ready, inside a wait of the routing operation rather than after both.
  const [armoredContent, routingCiphertext] = await Promise.all([
    alreadyEncrypted ? undefined : signAndEncrypt(payload, opts.signingKey, opts.recipientKeys, 'binary').then(armorMessageBytes),
    signAndEncrypt(Buffer.from(JSON.stringify(routing), 'utf8'), opts.signingKey, routingKeys, 'binary'),
  ]);

  if (armoredContent) {
    const head = headerBlock(transport, 'sealed', routingCiphertext, []);
    return { sealed: pgpMimeMessage(head, armoredContent), messageId, alreadyEncrypted };
  }

  // Client-encrypted input: keep its body and the fields describing it, byte for byte (line endings
  // of those fields normalised to CRLF); replace every other header field by the transport set.
  const bodyFields = spans
    .filter((f) => BODY_FIELDS.has(f.name.toLowerCase()))
    .map((f) => header.toString('utf8', f.start, f.valueEnd).replace(/\r?\n/g, '\r\n'));
  const head = headerBlock(transport, 'client-encrypted', routingCiphertext, bodyFields);
  return { sealed: Buffer.concat([Buffer.from(head + '\r\n', 'utf8'), body]), messageId, alreadyEncrypted };
}

function parseDate(value: string | undefined): Date {
  const d = value ? new Date(value.replace(/\([^)]*\)/g, '')) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}
