/** How a document's sender, author and signature read on the record and document pages. */
import type { GatewayContext } from '../../context.js';
import type { DocumentView } from '../../filing/index.js';
import { esc, roleLabel } from '../html.js';

/** The role a document's sender files under: a sender mapped in filing.senders (a lab's software) shows that role. */
export function senderRoleOf(ctx: Pick<GatewayContext, 'config'>): (doc: DocumentView) => string {
  const senders = new Map(Object.entries(ctx.config.filing.senders).map(([k, v]) => [k.toLowerCase(), v]));
  return (doc) => roleLabel(senders.get(doc.sender.toLowerCase()) ?? doc.senderRole);
}

/** Author and transmitter (issue 30): who wrote it, when that is not who sent it. */
export function authorNote(doc: DocumentView): string {
  const a = doc.author;
  if (a.status === 'verified') return `<br><span class="badge ok">Auteur vérifié : ${esc(a.name ? `${a.name} <${a.address}>` : a.address)}</span> <span class="muted">transmis par ${esc(doc.sender)}</span>`;
  if (a.status === 'unverified') return `<br><span class="badge warn">Transmis par ${esc(doc.sender)}, auteur non vérifié${a.name ? ` (se dit de ${esc(a.name)})` : ''}</span>`;
  return '';
}

export const signature = (doc: DocumentView): string => doc.verified ? '<span class="badge ok">Signature vérifiée</span>' : '<span class="badge bad">Signature non vérifiée</span>';
