/** The queue tables' rows as both stores read them, their mappings, and the recipient columns an update may set. */
import type { QueueItem, QueueRecipient } from '../types.js';
import { bool, type DbBool } from './columns.js';

export interface QueueItemRow {
  id: string; blob_id: string; envelope_from: string; message_id: string; created_at: string;
  expires_at: string; ret: string | null; envid: string | null; lease_owner: string | null; lease_until: string | null;
}
export interface RecipientRow {
  recipient: string; notify: string | null; orcpt: string | null; status: string; attempts: number;
  next_attempt_at: string; last_error: string | null; delay_notified: DbBool; updated_at: string;
}

export const recipientFrom = (r: RecipientRow): QueueRecipient => ({
  recipient: r.recipient, notify: r.notify ? r.notify.split(',') : null, orcpt: r.orcpt,
  status: r.status as QueueRecipient['status'], attempts: r.attempts, nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error, delayNotified: bool(r.delay_notified), updatedAt: r.updated_at,
});
export const queueItemFrom = (r: QueueItemRow, recipients: RecipientRow[]): QueueItem => ({
  id: r.id, blobId: r.blob_id, envelopeFrom: r.envelope_from, messageId: r.message_id, createdAt: r.created_at,
  expiresAt: r.expires_at, ret: r.ret as QueueItem['ret'], envid: r.envid, recipients: recipients.map(recipientFrom),
  lease: r.lease_owner && r.lease_until ? { owner: r.lease_owner, until: r.lease_until } : null,
});

const RECIPIENT_COLUMNS: Record<keyof Omit<QueueRecipient, 'recipient'>, string> = {
  notify: 'notify', orcpt: 'orcpt', status: 'status', attempts: 'attempts', nextAttemptAt: 'next_attempt_at',
  lastError: 'last_error', delayNotified: 'delay_notified', updatedAt: 'updated_at',
};

/**
 * The columns and values of a recipient update (`notify` stored comma-joined); `flag` writes a
 * boolean as the dialect stores it. Each dialect builds its own UPDATE from them.
 */
export function recipientChanges(changes: Partial<Omit<QueueRecipient, 'recipient'>>, flag: (v: boolean) => unknown): { columns: string[]; values: unknown[] } {
  const keys = Object.keys(changes) as (keyof typeof changes)[];
  return {
    columns: keys.map((k) => RECIPIENT_COLUMNS[k]),
    values: keys.map((k) => {
      const v = changes[k];
      if (k === 'notify') return v ? (v as string[]).join(',') : null;
      if (k === 'delayNotified') return flag(!!v);
      return v;
    }),
  };
}
