/**
 * The plain MIME an MSSanté mailbox receives. For now the message as the doctor wrote it.
 */
import type { SealedSubmission } from '../../message/seal-submission.js';
import type { DirectoryEntry } from '../../store/types.js';

export async function buildMssanteMessage(o: { raw: Buffer; facts: Omit<SealedSubmission, 'sealed'>; sender: DirectoryEntry }): Promise<Buffer> {
  return o.raw;
}
