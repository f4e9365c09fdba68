/**
 * What the MSSanté path refuses at submission: a client-encrypted message, which a keyless MSSanté
 * mailbox cannot read. (The transit seal itself lives in src/message/transit-seal.ts.)
 */
import { isEncryptedMessage } from '../../crypto/seal/index.js';
import { MedgateError } from '../../errors.js';

/**
 * An MSSanté mailbox without a key reads plain MIME: a message the client encrypted itself
 * (PGP/MIME, S/MIME enveloped) cannot be sent to it, and medgate never decrypts one to do so.
 */
export function refuseClientEncrypted(raw: Buffer, mssante: string[]): void {
  if (isEncryptedMessage(raw)) {
    throw new MedgateError('MSSANTE_ENCRYPTED_CONTENT',
      `the message is encrypted by the client, and ${mssante.join(', ')} can only read plain MIME (an MSSante mailbox without a key): send it to them unencrypted, or separately`);
  }
}
