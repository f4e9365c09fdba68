/** The `audit_log` row as both stores read it, and its mapping to an AuditRecord. */
import type { AuditRecord } from '../types.js';

export interface AuditRow {
  seq: number; at: string; actor: string; action: string; outcome: string; message_id: string | null;
  details: string; prev_hash: string; hash: string;
}

export const auditFrom = (r: AuditRow): AuditRecord => ({
  seq: r.seq, at: r.at, actor: r.actor, action: r.action, outcome: r.outcome as AuditRecord['outcome'], messageId: r.message_id,
  details: JSON.parse(r.details) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
});
