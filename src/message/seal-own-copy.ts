import type * as openpgp from 'openpgp';
import { seal } from '../crypto/seal/index.js';

/**
 * Seals a message a user stores himself (IMAP APPEND: Sent copies, drafts) to his own key only,
 * signed by it: no patient routing, no filing key. The same medgate/1 format as delivered mail, so
 * one opening path serves both.
 */
export async function sealOwnCopy(raw: Buffer, key: openpgp.PrivateKey, owner: string, internalDate: Date): Promise<Buffer> {
  const sealed = await seal({
    raw,
    routing: {
      messageId: '', patient: null, document: { type: 'other', date: internalDate.toISOString().slice(0, 10) },
      sender: { address: owner }, recipients: [owner],
    },
    signingKey: key, recipientKeys: [key.toPublic()], filingKeys: [],
    envelope: { from: owner, to: [owner] },
  });
  return sealed.sealed;
}
