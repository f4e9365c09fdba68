/**
 * Builds, at acceptance, the copy an MSSanté operator will receive (issue 28): the message as the
 * doctor wrote it, completed for record integration (src/smtp/mssante/mssante-message.ts), sealed
 * at once to the transit key. The clear MIME exists only in memory here and, later, in the TLS
 * stream to the operator.
 */
import { randomUUID } from 'node:crypto';
import type { GatewayContext } from '../../context.js';
import type { MssanteRecipient } from '../../message/sealer.js';
import type { SealedSubmission } from '../../message/seal-submission.js';
import type { DirectoryEntry } from '../../store/types.js';
import { buildMssanteMessage } from './mssante-message.js';
import { sealForTransit, TRANSIT_ID_PREFIX } from '../../message/transit-seal.js';

export interface MssanteCopy {
  queueId: string;
  sealed: Buffer;
  recipients: MssanteRecipient[];
}

export async function prepareMssanteCopy(ctx: GatewayContext, o: {
  original: Buffer;
  facts: Omit<SealedSubmission, 'sealed'>;
  sender: DirectoryEntry;
  recipients: MssanteRecipient[];
}): Promise<MssanteCopy> {
  const gateway = { domain: ctx.config.domain, productReference: ctx.config.mssante.productReference };
  const clear = await buildMssanteMessage({ raw: o.original, facts: o.facts, sender: o.sender, gateway });
  return { queueId: `${TRANSIT_ID_PREFIX}${randomUUID()}`, sealed: await sealForTransit(ctx, clear), recipients: o.recipients };
}
