import { createHash } from 'node:crypto';
import type { AuditRecord, AuditRepo } from '../store/types.js';

/** Hash of the first record's predecessor: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEvent {
  actor: string;
  action: string;
  outcome: AuditRecord['outcome'];
  messageId?: string | null;
  /** Codes, addresses, counts — never message content or patient identity. */
  details?: Record<string, unknown>;
}

/** Canonical JSON: sorted keys, so the hash does not depend on property order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  const obj = value as Record<string, unknown>;
  return '{' + Object.keys(obj).sort().filter((k) => obj[k] !== undefined).map((k) => JSON.stringify(k) + ':' + canonical(obj[k])).join(',') + '}';
}

export function hashRecord(r: Omit<AuditRecord, 'hash'>): string {
  const body = canonical({
    seq: r.seq, at: r.at, actor: r.actor, action: r.action, outcome: r.outcome,
    messageId: r.messageId, details: r.details, prevHash: r.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}

export type AuditVerification =
  | { ok: true; records: number; headHash: string }
  | { ok: false; records: number; brokenAt: number; reason: string };

/**
 * The append-only, hash-chained audit trail: each record carries the hash of the previous one, so
 * editing, removing or reordering any record breaks every hash after it.
 */
export class AuditTrail {
  constructor(private readonly repo: AuditRepo, private readonly now: () => Date = () => new Date()) {}

  async record(event: AuditEvent): Promise<AuditRecord> {
    return this.repo.append((prev) => {
      const partial = {
        seq: (prev?.seq ?? 0) + 1,
        at: this.now().toISOString(),
        actor: event.actor,
        action: event.action,
        outcome: event.outcome,
        messageId: event.messageId ?? null,
        details: event.details ?? {},
        prevHash: prev?.hash ?? GENESIS_HASH,
      };
      return { ...partial, hash: hashRecord(partial) };
    });
  }

  async verify(): Promise<AuditVerification> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let count = 0;
    const page = 5000;
    for (;;) {
      const batch = await this.repo.list(expectedSeq, page);
      for (const r of batch) {
        count++;
        if (r.seq !== expectedSeq) return { ok: false, records: count, brokenAt: expectedSeq, reason: `record ${expectedSeq} is missing (next found is ${r.seq})` };
        if (r.prevHash !== prevHash) return { ok: false, records: count, brokenAt: r.seq, reason: `record ${r.seq} does not link to record ${r.seq - 1} (previous hash differs)` };
        if (hashRecord(r) !== r.hash) return { ok: false, records: count, brokenAt: r.seq, reason: `record ${r.seq} was altered (its content does not match its hash)` };
        prevHash = r.hash;
        expectedSeq++;
      }
      if (batch.length < page) break;
    }
    return { ok: true, records: count, headHash: prevHash };
  }

  list(from?: number, limit?: number): Promise<AuditRecord[]> {
    return this.repo.list(from, limit);
  }
}
