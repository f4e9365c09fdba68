/** seal(): the original message → medgate/1 (PGP/MIME, RFC 9788 header protection, routing header). */
import { createHash } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { splitHeaderBlock } from './header-block.js';
import { buildInnerEntity } from './inner-entity.js';
import { headerBlock, pgpMimeMessage } from './outer-message.js';
import { signAndEncrypt, uniqueKeys } from './pgp.js';
import { armorMessageBytes } from './radix64.js';
import { sealedRoutingHeader, type RoutingInput } from './routing-header.js';
import { clientEncryptedBodyFields, planOuterLayer } from './seal-parts.js';

export interface SealOptions {
  /** The original RFC 5322 message as submitted. */
  raw: Buffer;
  routing: RoutingInput;
  /**
   * An own copy (a message a user stores for himself, IMAP APPEND): a sealed body carries no routing
   * header, so the copy costs one OpenPGP operation instead of two (docs/secure-message-format.md
   * §5.1). Client-encrypted input keeps it: there it is the only part medgate signs (§7).
   */
  withoutRouting?: boolean;
  /** The sender's decrypted private key. */
  signingKey: openpgp.PrivateKey;
  /** Every recipient's key, plus the sender's own key for the Sent copy. */
  recipientKeys: openpgp.PublicKey[];
  /** Filing keys of the recipients' gateways: they open the routing header only. */
  filingKeys: openpgp.PublicKey[];
  envelope: { from: string; to: string[] };
  /** Outer Subject; default "[...]" (RFC 9788). */
  outerSubject?: string;
  /**
   * Outer Message-ID; default a fresh one. The gateway's own reports fix it (derived from what they
   * report on) so that a report sent twice after a crash is one message for every receiving store.
   */
  outerMessageId?: string;
}

export interface SealResult {
  sealed: Buffer;
  /** The outer Message-ID (freshly generated unless `outerMessageId`; the original one stays inside). */
  messageId: string;
  alreadyEncrypted: boolean;
}

/** Header fields of a client-encrypted message that describe its (kept) body. */
export async function seal(opts: SealOptions): Promise<SealResult> {
  if (opts.recipientKeys.length === 0) throw new Error('seal: at least one recipient key is required');
  const { header, body } = splitHeaderBlock(opts.raw);
  const { spans, alreadyEncrypted, messageId, transport } = planOuterLayer(header, opts.envelope.from, opts.outerSubject, opts.outerMessageId);

  const payload = alreadyEncrypted ? body : buildInnerEntity(opts.raw, { fields: transport });
  const routing = opts.withoutRouting && !alreadyEncrypted ? null : sealedRoutingHeader(opts.routing, createHash('sha256').update(payload).digest('hex'), new Date().toISOString());
  const routingKeys = uniqueKeys([...opts.recipientKeys, ...opts.filingKeys]);

  // Both operations run at once: most of their time is WebCrypto steps (X25519, Ed25519, AES-KW) that
  // wait on the libuv thread pool, and one operation's JavaScript runs during the other's waits.
  // The content operation, the longer one, starts first, and its ciphertext is armored as soon as it
  // is ready, inside a wait of the routing operation rather than after both.
  const [armoredContent, routingCiphertext] = await Promise.all([
    alreadyEncrypted ? undefined : signAndEncrypt(payload, opts.signingKey, opts.recipientKeys, 'binary').then(armorMessageBytes),
    routing ? signAndEncrypt(Buffer.from(JSON.stringify(routing), 'utf8'), opts.signingKey, routingKeys, 'binary') : null,
  ]);

  if (armoredContent) {
    const head = headerBlock(transport, 'sealed', routingCiphertext, []);
    return { sealed: pgpMimeMessage(head, armoredContent), messageId, alreadyEncrypted };
  }

  if (!routingCiphertext) throw new Error('unreachable: client-encrypted input is always given its routing header');
  const head = headerBlock(transport, 'client-encrypted', routingCiphertext, clientEncryptedBodyFields(header, spans));
  return { sealed: Buffer.concat([Buffer.from(head + '\r\n', 'utf8'), body]), messageId, alreadyEncrypted };
}
