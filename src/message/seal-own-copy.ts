import type * as openpgp from 'openpgp';
import { seal } from '../crypto/seal/index.js';
import type { MessageMeta } from '../imap/backend.js';

/**
 * Seals a copy to its owner's own OpenPGP key only, signed by it: no patient routing, no filing
 * key; the same medgate/1 format as delivered mail, so one opening path serves both. Used for a
 * record server's APPENDs (its session shows routing fields over sealed content: they keep their
 * routing header) and the MSSanté transit copy. A person's APPENDs are sealed under his account
 * key instead (docs/secure-message-format.md §5.2, MetaKey.sealOwnCopy).
 *
 * `withoutRouting`: the §5.1 form (no routing header, one OpenPGP operation), what a person's
 * APPENDs were between §5.1 and §5.2; such copies are still read.
 */
export async function sealOwnCopy(raw: Buffer, key: openpgp.PrivateKey, owner: string, internalDate: Date, options: { withoutRouting?: boolean } = {}): Promise<Buffer> {
  const sealed = await seal({
    raw,
    routing: {
      messageId: '', patient: null, document: { type: 'other', date: internalDate.toISOString().slice(0, 10) },
      sender: { address: owner }, recipients: [owner],
    },
    signingKey: key, recipientKeys: [key.toPublic()], filingKeys: [],
    envelope: { from: owner, to: [owner] },
    withoutRouting: options.withoutRouting ?? false,
  });
  return sealed.sealed;
}

export interface AppendedCopy {
  sealed: Buffer;
  /** ENVELOPE and BODYSTRUCTURE of the bytes as IMAP serves them (CRLF), when they were computed and parse. */
  imap?: MessageMeta;
}
