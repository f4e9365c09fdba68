import type * as openpgp from 'openpgp';
import { seal } from '../crypto/seal/index.js';
import type { MessageMeta } from '../imap/backend.js';
import { analyseMessage } from '../imap/mime/structure.js';
import { toCrlf } from '../util/crlf.js';

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

export interface AppendedCopy {
  sealed: Buffer;
  /** ENVELOPE and BODYSTRUCTURE of the bytes as IMAP serves them (CRLF), when asked and parseable. */
  imap?: MessageMeta;
}

/**
 * An IMAP APPEND's copy: sealed, and (`analyse`) its IMAP metadata computed from the same bytes in
 * the same thread. In the sealing worker this takes the MIME parse of every APPEND off the main
 * thread, which serves every session (issue 31: 5-10 % of its time under imaptest's stress with
 * realistic mail), while the worker waits on the thread pool's X25519 and Ed25519 steps anyway.
 */
export async function sealAppendedCopy(
  raw: Buffer, key: openpgp.PrivateKey, owner: string, internalDate: Date, options: { withoutRouting: boolean; analyse: boolean },
): Promise<AppendedCopy> {
  const [sealed, imap] = await Promise.all([
    sealOwnCopy(raw, key, owner, internalDate, { withoutRouting: options.withoutRouting }),
    options.analyse ? analyseMessage(toCrlf(raw)).catch(() => undefined) : undefined,
  ]);
  return imap ? { sealed, imap } : { sealed };
}
