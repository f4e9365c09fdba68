import type * as openpgp from 'openpgp';
import { seal } from '../crypto/seal/index.js';

/**
 * Seals a message a user stores himself (IMAP APPEND: Sent copies, drafts) to his own key only,
 * signed by it: no patient routing, no filing key. The same medgate/1 format as delivered mail, so
 * one opening path serves both.
 *
 * `withoutRouting`: the copy carries no routing header (one OpenPGP operation instead of two,
 * docs/secure-message-format.md §5.1). A person's copies are read only by him, who opens the content
 * anyway; a record server's session, which shows routing fields over sealed content, keeps it.
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
